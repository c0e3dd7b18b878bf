# Astronaut's own addon over usearch's index_dense_t (see usearch_addon.cpp).
#
# Built by `npm install` (package.json "install": node-gyp rebuild --directory src/engine/native).
# Output: build/Release/astronaut_usearch.node, loaded by src/engine/native-index.ts.
#
# Distances come from NumKong (vendored inside the usearch package) with dynamic dispatch:
# every SIMD kernel is compiled and the best one for the running CPU is picked at start-up.
# That is why there is no -march=native: the image must run on any x86-64 (or arm64) host.
{
    "variables": {
        # Relative to this file; numkong.gypi expands it into source paths and its ISA probe.
        "numkong_root": "../../../node_modules/usearch/numkong",
        "usearch_root": "../../../node_modules/usearch",
    },
    "includes": ["../../../node_modules/usearch/numkong/numkong.gypi"],
    "targets": [
        {
            "target_name": "astronaut_usearch",
            "sources": ["usearch_addon.cpp"],
            "dependencies": [
                "<!(node -p \"require('node-addon-api').gyp\")",
                "numkong_lib",
            ],
            "include_dirs": [
                "<!@(node -p \"require('node-addon-api').include\")",
                "<(usearch_root)/include",
            ],
            "defines": [
                "USEARCH_USE_NUMKONG=1",
                "NK_DYNAMIC_DISPATCH=1",
                "USEARCH_USE_OPENMP=0",
                "NAPI_VERSION=8",
                "NAPI_CPP_EXCEPTIONS",
            ],
            # node-gyp's common.gypi adds -fno-exceptions and -O3 for Release; we need exceptions
            # (usearch and node-addon-api both throw) and C++17 (std::shared_mutex in usearch).
            "cflags!": ["-fno-exceptions"],
            "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
            "cflags": ["-O3", "-fexceptions", "-Wno-unknown-pragmas", "-Wno-maybe-uninitialized"],
            "cflags_cc": [
                "-O3",
                "-std=c++17",
                "-fexceptions",
                "-Wno-unknown-pragmas",
                "-Wno-maybe-uninitialized",
            ],
            "xcode_settings": {
                "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
                "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
                "MACOSX_DEPLOYMENT_TARGET": "11.0",
            },
            "msvs_settings": {
                "VCCLCompilerTool": {
                    "ExceptionHandling": 1,
                    "AdditionalOptions": ["-std:c++17", "/Zc:preprocessor"],
                }
            },
        }
    ],
}
