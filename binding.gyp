# The addon: one target, settings in one place. It uses Node-API's C interface (node_api.h, from
# the Node headers node-gyp provides) so that every call's status is checked where it is made.
# Exceptions stay off (Node's common.gypi passes -fno-exceptions); errors reach JavaScript as
# pending exceptions, never as an abort.
# Warnings are on but not errors: .ci/run fails on any warning instead, so that a newer
# compiler warning on a user's machine cannot fail the install's compile.
{
  "targets": [
    {
      "target_name": "totp_handshake",
      "sources": [
        "native/addon.cc",
        "native/base32.cc",
        "native/hmac_totp.cc",
        "native/key_arena.cc",
        "native/cpu_dispatch.cc",
        "native/sha_portable.cc",
        "native/sha_x86.cc",
        "native/sha_arm.cc"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-Wall", "-Wextra", "-fvisibility=hidden"],
      "xcode_settings": {
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "WarningLevel": 4 }
      },
      "configurations": {
        "Release": {
          "cflags_cc": ["-O3", "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=2"]
        },
        "Debug": {
          "cflags_cc": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"],
          "ldflags": ["-fsanitize=address,undefined"]
        }
      }
    }
  ]
}
