# One library target per component folder, with explicit dependencies, so a layering mistake
# (a folder reaching for something it did not declare) fails the build.
#
#   pg2i_library(NAME config SOURCES a.cc b.cc DEPS pg2i::base yaml-cpp)
#   pg2i_test(NAME config_test SOURCES config_test.cc DEPS pg2i::config LABELS unit)

function(pg2i_library)
  cmake_parse_arguments(A "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_library(pg2i_${A_NAME} STATIC ${A_SOURCES})
  add_library(pg2i::${A_NAME} ALIAS pg2i_${A_NAME})
  target_include_directories(pg2i_${A_NAME} PUBLIC "${PROJECT_SOURCE_DIR}/src")
  target_compile_options(pg2i_${A_NAME} PRIVATE ${PG2I_WARNINGS})
  target_link_libraries(pg2i_${A_NAME} PUBLIC ${A_DEPS})
endfunction()

function(pg2i_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${A_NAME} ${A_SOURCES})
  target_compile_options(${A_NAME} PRIVATE ${PG2I_WARNINGS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  add_test(NAME ${A_NAME} COMMAND ${A_NAME} --gtest_color=no)
  set_tests_properties(${A_NAME} PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT}
                       ENVIRONMENT "${PG2I_TEST_ENV}")
endfunction()
