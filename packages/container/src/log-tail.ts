import type { FileHandle } from "node:fs/promises";

/** Where the last `lines` lines of the file start (a final newline ends the last line, it starts none). */
export async function tailStart(handle: FileHandle, lines: number, buffer: Buffer): Promise<number> {
  const { size } = await handle.stat();
  if (lines <= 0) return size;
  let count = 0;
  for (let end = size; end > 0; ) {
    const n = Math.min(buffer.length, end);
    const start = end - n;
    await handle.read(buffer, 0, n, start);
    for (let i = n - 1; i >= 0; i--) {
      if (buffer[i] !== 0x0a || start + i === size - 1) continue;
      if (++count === lines) return start + i + 1;
    }
    end = start;
  }
  return 0;
}
