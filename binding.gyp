# The addon: one target, settings in one place. Exceptions stay off (node-addon-api's
# noexcept target, and Node's common.gypi already passes -fno-exceptions); errors reach
# JavaScript as pending exceptions, never as an abort.
# Warnings are on but not errors: .ci/run fails on any warning instead, so that a newer
# compiler warning on a user's machine cannot fail the install's compile.
{
  "targets": [
    {
      "target_name": "totp_handshake",
      "sources": [
        "native/addon.cc",
        "native/hmac_totp.cc",
        "native/cpu_dispatch.cc",
        "native/sha_portable.cc",
        "native/sha_x86.cc",
        "native/sha_arm.cc"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
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
          "cflags_cc": ["-O3"]
        },
        "Debug": {
          "cflags_cc": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"],
          "ldflags": ["-fsanitize=address,undefined"]
        }
      }
    }
  ]
}
