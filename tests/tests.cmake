# tests.cmake — every suite ctest runs. Labels: unit (C), lua (stdlib through the binary),
# selftest, e2e (CLI scripts). New test files are picked up by the globs; no list to edit.
file(GLOB PRISM_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${PRISM_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit)
  target_link_libraries(${name} PRIVATE prism_core)
  add_test(NAME unit/${name} COMMAND ${name})
  set_tests_properties(unit/${name} PROPERTIES LABELS unit TIMEOUT 300)
endforeach()

file(GLOB PRISM_LUA_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/lua/test_*.lua)
foreach(src ${PRISM_LUA_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME lua/${name} COMMAND prism exec ${src} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(lua/${name} PROPERTIES LABELS lua TIMEOUT 600)
endforeach()

add_test(NAME selftest COMMAND prism selftest)
set_tests_properties(selftest PROPERTIES LABELS selftest TIMEOUT 900)

# End-to-end tests of the CLI: each tests/e2e/*.sh gets the binary as $1 (and env PRISM), runs
# from the source root, and prints one line per check ("N passed, 0 failed"). Helpers they share
# live in tests/e2e/lib/ (not tests themselves).
file(GLOB PRISM_E2E_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/e2e/*.sh)
foreach(src ${PRISM_E2E_TESTS})
  get_filename_component(name ${src} NAME_WE)
  # valgrind.sh (labels e2e, valgrind) runs in plain builds only: ASan's runtime cannot run under valgrind.
  if(name STREQUAL "valgrind" AND (PRISM_SANITIZE OR PRISM_FUZZ))
    continue()
  endif()
  add_test(NAME e2e/${name} COMMAND bash ${src} $<TARGET_FILE:prism> WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(e2e/${name} PROPERTIES LABELS e2e TIMEOUT 900 ENVIRONMENT "PRISM=$<TARGET_FILE:prism>")
  if(name STREQUAL "valgrind")
    set_tests_properties(e2e/${name} PROPERTIES LABELS "e2e;valgrind" TIMEOUT 1800) # memcheck: ~50-100x slower
  endif()
endforeach()

# libFuzzer targets and their short ctest runs (label fuzz): only in a -DPRISM_FUZZ=ON build.
if(PRISM_FUZZ)
  include(${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz.cmake)
endif()
