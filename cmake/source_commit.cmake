# Run at every build (cmake -P): writes OUT with the commit the sources are at,
# "+changes" when tracked files differ from it, "unknown" outside a git checkout.
# OUT is rewritten only when that changes, so only its few includers recompile.
execute_process(COMMAND git -C "${SRC}" rev-parse --short=12 HEAD
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc ERROR_QUIET)
if(rc EQUAL 0 AND commit)
  execute_process(COMMAND git -C "${SRC}" status --porcelain --untracked-files=no
                  OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(changes)
    string(APPEND commit "+changes")
  endif()
else()
  set(commit "unknown")
endif()
set(text "// Generated at build time by cmake/source_commit.cmake.\n#pragma once\n#define GROKJIT_SOURCE_COMMIT \"${commit}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE "${OUT}" "${text}")
endif()
