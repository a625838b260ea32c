# fuzz.cmake — libFuzzer targets (tests/fuzz/fuzz_*.c), built only when PRISM_FUZZ is ON, in a
# build directory of their own configured with clang (scripts/fuzz makes ./build-fuzz). The
# whole tree is then compiled with -fsanitize=fuzzer-no-link,address,undefined (CMakeLists.txt);
# each target links prism_core with -fsanitize=fuzzer. ctest runs every target briefly (label
# fuzz, PRISM_FUZZ_RUNS executions each, seeded from tests/fuzz/corpus/<target>/ when present);
# long runs are scripts/fuzz's job. See tests/fuzz/README.md.
file(GLOB PRISM_FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
set(PRISM_FUZZ_RUNS 20000 CACHE STRING "executions per fuzz target in the ctest smoke run")
foreach(src ${PRISM_FUZZ_TARGETS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE prism_core)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  set(corpus ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
  set(work ${CMAKE_BINARY_DIR}/fuzz-corpus/${name})
  set(artifacts ${CMAKE_BINARY_DIR}/fuzz-artifacts/${name})
  file(MAKE_DIRECTORY ${work} ${artifacts})
  if(IS_DIRECTORY ${corpus})
    set(seeds ${corpus})
  else()
    set(seeds "")
  endif()
  add_test(NAME fuzz/${name}
           COMMAND ${name} -runs=${PRISM_FUZZ_RUNS} -max_total_time=60 -max_len=4096 -rss_limit_mb=2048
                   -seed=1 -artifact_prefix=${artifacts}/ ${work} ${seeds}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(fuzz/${name} PROPERTIES LABELS fuzz TIMEOUT 300)
endforeach()
