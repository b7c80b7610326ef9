# The rumpnet native addon: the few host operations Node does not offer.
# Built at install time by `node-gyp rebuild --directory hypercall/native`
# (package.json "install"); node-gyp uses the headers of the running Node.
{
  "targets": [
    {
      "target_name": "rumpnet_native",
      "sources": ["src/addon.cc", "src/tap.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # napi_detach_arraybuffer needs N-API 7; 8 is in every Node >= 12.22.
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": { "CLANG_CXX_LANGUAGE_STANDARD": "c++17" }
        }]
      ]
    },
    {
      # librumphijack.so: the LD_PRELOAD hijack for any dynamically linked
      # program (sysproxy/native/rumphijack.c, docs/HIJACK-NATIVE.md). Linux only.
      "target_name": "rumphijack",
      "product_name": "rumphijack",
      "product_prefix": "lib",
      "conditions": [
        ["OS=='linux'", {
          "type": "shared_library",
          "sources": ["../../sysproxy/native/rumphijack.c"],
          "cflags": ["-std=gnu11", "-fvisibility=hidden", "-Wall", "-Wextra"],
          "libraries": ["-ldl", "-lpthread"]
        }, {
          "type": "none"
        }]
      ]
    }
  ]
}
