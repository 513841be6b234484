// runtime/files.h: whole-file writes that never leave half a file, and that
// write into a device or pipe instead of renaming a file over it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "ir/error.h"
#include "runtime/files.h"

namespace grokjit::runtime {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("grokjit_files_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Files, WriteFileAtomicallyReplacesAWholeFile) {
  const fs::path dir = fresh_dir("replace");
  const std::string path = (dir / "out.txt").string();
  write_file_atomically(path, "first\n");
  write_file_atomically(path, "second\n");
  EXPECT_EQ(read_text_file(path, "test file"), "second\n");
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);  // no temporary left behind
  fs::remove_all(dir);
}

// `grokjit data -o /dev/stdout` (or a named pipe): a rename would replace
// the pipe with a regular file; the bytes must go into the pipe.
TEST(Files, WriteFileAtomicallyWritesIntoAPipe) {
  const fs::path dir = fresh_dir("fifo");
  const std::string fifo = (dir / "pipe").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // a reader, so the writer's open succeeds
  ASSERT_GE(reader, 0);
  write_file_atomically(fifo, "through the pipe\n");
  char buffer[64] = {0};
  const ssize_t n = ::read(reader, buffer, sizeof buffer - 1);
  ::close(reader);
  EXPECT_EQ(std::string(buffer, n > 0 ? static_cast<size_t>(n) : 0), "through the pipe\n");
  EXPECT_TRUE(fs::is_fifo(fifo));
  fs::remove_all(dir);
}

// A link (as /dev/stdout is, to /proc/self/fd/1) is written through, not replaced by a file.
TEST(Files, WriteFileAtomicallyWritesThroughALink) {
  const fs::path dir = fresh_dir("link");
  const fs::path target = dir / "target.txt", link = dir / "link.txt";
  std::ofstream(target) << "old contents, longer than the new\n";
  fs::create_symlink(target, link);
  write_file_atomically(link.string(), "new\n");
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read_text_file(target.string(), "target"), "new\n");
  fs::remove_all(dir);
}

// `grokjit train /dev/zero` used to read until memory ran out.
TEST(Files, ReadTextFileStopsAtItsCap) {
  const fs::path dir = fresh_dir("cap");
  const std::string big = (dir / "big.json").string();
  std::ofstream(big) << std::string((size_t{1} << 20) + 1, ' ');
  EXPECT_EQ(read_text_file(big, "spec", (size_t{1} << 20) + 1).size(), (size_t{1} << 20) + 1);  // at the cap: read
  for (const std::string& path : {big, std::string("/dev/zero")}) {
    try {
      read_text_file(path, "spec", size_t{1} << 20);
      ADD_FAILURE() << path << " was read whole";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Io);
      EXPECT_NE(std::string(e.what()).find("spec '" + path + "': longer than 1 MiB"), std::string::npos) << e.what();
    }
  }
  fs::remove_all(dir);
}

// `sweep --out FILE` said "filesystem error: cannot create directories: Not a directory [FILE/runs]",
// and a dangling link "File exists".
TEST(Files, CreateOutputDirectorySaysWhyItCannot) {
  const fs::path dir = fresh_dir("mkdir");
  const fs::path file = dir / "a-file", dangling = dir / "dangling";
  std::ofstream(file) << "x";
  fs::create_symlink(dir / "nowhere", dangling);
  create_output_directory((dir / "new" / "runs").string(), "--out");
  EXPECT_TRUE(fs::is_directory(dir / "new" / "runs"));
  const std::vector<std::pair<fs::path, std::string>> cases = {
      {file, "--out '" + file.string() + "': not a directory"},
      {dangling, "--out '" + dangling.string() + "': a link to '" + (dir / "nowhere").string() + "', which does not exist"},
      {file / "runs", "--out '" + (file / "runs").string() + "': cannot create it: "}};
  for (const auto& [path, message] : cases) {
    try {
      create_output_directory(path.string(), "--out");
      ADD_FAILURE() << path << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Io);
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
  fs::remove_all(dir);
}

TEST(Files, WriteErrorsNameTheFile) {
  const std::string path = (fresh_dir("missing") / "no" / "such" / "folder.txt").string();
  try {
    write_file_atomically(path, "x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Io);
    EXPECT_NE(std::string(e.what()).find("cannot write '" + path + "'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace grokjit::runtime
