# Finds bnlab's dependencies and stops early, with the command that installs
# them, when one is missing (scripts/setup.sh installs all of them).
set(BNLAB_SETUP_HINT "run scripts/setup.sh, or: apt-get install")

macro(bnlab_require_package name debian_package)
  find_package(${name} ${ARGN} QUIET)
  if(NOT ${name}_FOUND)
    message(FATAL_ERROR
      "bnlab: dependency '${name}' not found.\n"
      "  ${BNLAB_SETUP_HINT} ${debian_package}")
  endif()
endmacro()

# Debian's TorchConfig pulls in Caffe2's, which needs Gloo's CMake files for
# the c10d headers; check that first so the message names the real package.
bnlab_require_package(Gloo libgloo-dev)
bnlab_require_package(Torch "libtorch-dev libgloo-dev")
bnlab_require_package(cxxopts libcxxopts-dev)
bnlab_require_package(fmt libfmt-dev)
bnlab_require_package(tomlplusplus libtomlplusplus-dev)
bnlab_require_package(OpenSSL libssl-dev)
bnlab_require_package(ZLIB zlib1g-dev)
bnlab_require_package(nlohmann_json nlohmann-json3-dev)
# TensorBoard's event records (src/runs/proto) are built with libprotobuf
# from .proto files that protoc compiles at build time.
bnlab_require_package(Protobuf "protobuf-compiler libprotobuf-dev")
if(NOT Protobuf_PROTOC_EXECUTABLE)
  message(FATAL_ERROR "bnlab: protoc not found.\n  ${BNLAB_SETUP_HINT} protobuf-compiler")
endif()
if(BUILD_TESTING OR NOT DEFINED BUILD_TESTING)
  bnlab_require_package(Catch2 catch2)
endif()

if(Torch_VERSION AND Torch_VERSION VERSION_LESS 1.13)
  message(WARNING "bnlab is developed against LibTorch 1.13; found ${Torch_VERSION}")
endif()
