# tests.cmake — every suite ctest runs. Labels: unit (C), lua (stdlib through the binary),
# selftest. New test files are picked up by the globs; no list to edit.
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
