# Writes OUTPUT (build_info.cpp) with the current git commit. configure_file
# leaves the file untouched when its content is unchanged, so nothing rebuilds
# unless the commit moved.
execute_process(
  COMMAND git -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
  OUTPUT_VARIABLE BNLAB_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET RESULT_VARIABLE git_result)
if(NOT git_result EQUAL 0 OR BNLAB_GIT_COMMIT STREQUAL "")
  set(BNLAB_GIT_COMMIT "unknown")
endif()
execute_process(
  COMMAND git -C "${SOURCE_DIR}" status --porcelain --untracked-files=no
  OUTPUT_VARIABLE git_dirty ERROR_QUIET)
if(NOT git_dirty STREQUAL "")
  set(BNLAB_GIT_COMMIT "${BNLAB_GIT_COMMIT}-dirty")
endif()
configure_file("${CMAKE_CURRENT_LIST_DIR}/build_info.cpp.in" "${OUTPUT}" @ONLY)
