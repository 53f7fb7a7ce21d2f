# bench/crossing: the design alternatives for the addon's calls, timed by run.mjs (not shipped).
{
  "targets": [
    {
      "target_name": "crossing",
      "sources": ["crossing.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-O3"]
    }
  ]
}
