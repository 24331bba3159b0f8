# Use ccache for C++ and CUDA when it is installed: rebuilds in CI and locally are cheap.
find_program(MMGEN_CCACHE ccache)
if(MMGEN_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${MMGEN_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${MMGEN_CCACHE})
endif()
