{
  "targets": [
    {
      "target_name": "strata-launch-helper",
      "type": "executable",
      "sources": [
        "native/helper.c"
      ],
      "cflags": [
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Wno-missing-field-initializers"
      ]
    }
  ]
}
