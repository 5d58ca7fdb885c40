# Arrow C++ and Parquet C++ 26 from the pyarrow==26.0.1 wheel installed by
# scripts/bootstrap.sh into the project-local venv (.deps/venv). The wheel ships headers and
# versioned shared libraries (lib*.so.2600) but no CMake package, so imported targets are
# declared here. Binaries get the wheel's directory in their RPATH and run without
# LD_LIBRARY_PATH.

set(PG2I_PYARROW_DIR "" CACHE PATH "Directory of the pyarrow package (holds include/ and lib*.so.2600)")
if(NOT PG2I_PYARROW_DIR)
  file(GLOB _pyarrow_candidates
       "${PROJECT_SOURCE_DIR}/.deps/venv/lib/python3*/site-packages/pyarrow")
  list(LENGTH _pyarrow_candidates _n)
  if(_n EQUAL 0)
    message(FATAL_ERROR
      "pyarrow not found under .deps/venv. Run scripts/bootstrap.sh first "
      "(or pass -DPG2I_PYARROW_DIR=<site-packages>/pyarrow).")
  endif()
  list(GET _pyarrow_candidates 0 _first)
  set(PG2I_PYARROW_DIR "${_first}" CACHE PATH "" FORCE)
endif()

set(_arrow_so_version 2600)
function(pg2i_arrow_import target libname)
  set(_lib "${PG2I_PYARROW_DIR}/lib${libname}.so.${_arrow_so_version}")
  if(NOT EXISTS "${_lib}")
    message(FATAL_ERROR "${_lib} is missing; re-run scripts/bootstrap.sh")
  endif()
  add_library(${target} SHARED IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION "${_lib}"
    IMPORTED_SONAME "lib${libname}.so.${_arrow_so_version}"
    INTERFACE_INCLUDE_DIRECTORIES "${PG2I_PYARROW_DIR}/include")
  # The wheel's headers are third-party: keep our -Werror away from them.
  set_property(TARGET ${target} PROPERTY INTERFACE_SYSTEM_INCLUDE_DIRECTORIES
               "${PG2I_PYARROW_DIR}/include")
endfunction()

pg2i_arrow_import(Arrow::arrow arrow)
pg2i_arrow_import(Arrow::compute arrow_compute)
pg2i_arrow_import(Arrow::s3 arrow_s3)
pg2i_arrow_import(Parquet::parquet parquet)
set_property(TARGET Arrow::compute APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
set_property(TARGET Arrow::s3 APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
set_property(TARGET Parquet::parquet APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)

list(APPEND CMAKE_BUILD_RPATH "${PG2I_PYARROW_DIR}")
list(APPEND CMAKE_INSTALL_RPATH "${PG2I_PYARROW_DIR}")
