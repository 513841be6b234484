// runtime/safetensors: round trips, the exact byte layout, every kind of
// corrupt file, atomic writes, and interchange with Python's package.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>

#include <unistd.h>

#include "ir/error.h"
#include "runtime/safetensors.h"

namespace grokjit::runtime {
namespace {

namespace fs = std::filesystem;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "in: " << (haystack)

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("grokjit_st_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::vector<NamedTensor> sample_tensors() {
  return {make_tensor<float>("w", {2, 3}, {1.5f, -2.0f, 0.0f, 3.25f, 1e-7f, -0.0f}),
          make_tensor<double>("scalar", {}, {3.141592653589793}),
          make_tensor<int32_t>("order", {4}, {3, 0, -2, 2147483647}),
          make_tensor<int64_t>("step", {1}, {1234567890123LL}),
          make_tensor<bool>("mask", {3}, {true, false, true}),
          make_tensor<float>("empty", {0, 5}, {})};
}

// A file from a header text and data bytes, framed by hand.
std::vector<uint8_t> frame(const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> file(8);
  const uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) file[i] = static_cast<uint8_t>(length >> (8 * i));
  file.insert(file.end(), header.begin(), header.end());
  file.insert(file.end(), data.begin(), data.end());
  return file;
}

std::string decode_error(const std::vector<uint8_t>& file) {
  try {
    decode_safetensors(file, "ckpt.safetensors");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Io) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(Safetensors, RoundTripsEveryDtypeAndMetadata) {
  TempDir dir;
  const auto tensors = sample_tensors();
  const std::map<std::string, std::string> metadata = {{"epoch", "12"}, {"spec", "{\"a\": 1}"}};
  save_safetensors(dir.file("a.safetensors"), tensors, metadata);
  const SafetensorsContents loaded = load_safetensors(dir.file("a.safetensors"));
  EXPECT_EQ(loaded.metadata, metadata);
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (const NamedTensor& expected : tensors) {
    const NamedTensor& got = find_tensor(loaded, expected.name);
    EXPECT_EQ(got.dtype, expected.dtype);
    EXPECT_EQ(got.shape, expected.shape);
    EXPECT_EQ(got.bytes, expected.bytes) << expected.name;
  }
  EXPECT_EQ(tensor_values<float>(find_tensor(loaded, "w"))[3], 3.25f);
  EXPECT_EQ(tensor_values<double>(find_tensor(loaded, "scalar"))[0], 3.141592653589793);
  EXPECT_EQ(tensor_values<int32_t>(find_tensor(loaded, "order"))[3], 2147483647);
  EXPECT_EQ(tensor_values<int64_t>(find_tensor(loaded, "step"))[0], 1234567890123LL);
  EXPECT_EQ(tensor_values<bool>(find_tensor(loaded, "mask")), (std::vector<bool>{true, false, true}));
  EXPECT_THROW(tensor_values<double>(find_tensor(loaded, "w")), Error);
  try {
    find_tensor(loaded, "nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("a.safetensors") + ": no tensor 'nope'");
  }
}

TEST(Safetensors, ByteLayoutIsTheFormat) {
  const auto file = encode_safetensors({make_tensor<int32_t>("a", {2}, {1, 258})});
  const std::string header = R"({"a":{"data_offsets":[0,8],"dtype":"I32","shape":[2]}})";
  const std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  const std::vector<uint8_t> expected =
      frame(padded, {0x01, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00, 0x00});  // little-endian 1 and 258
  EXPECT_EQ(file, expected);
  EXPECT_EQ((file.size() - 8) % 8, 0u) << "header padded so that the data is 8-byte aligned";
}

TEST(Safetensors, AtomicWriteLeavesNoTempFileAndReplaces) {
  TempDir dir;
  const std::string path = dir.file("c.safetensors");
  save_safetensors(path, {make_tensor<float>("x", {1}, {1.0f})});
  save_safetensors(path, {make_tensor<float>("x", {1}, {2.0f})});
  EXPECT_EQ(tensor_values<float>(load_safetensors(path).tensors[0])[0], 2.0f);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "c.safetensors");
  }
  EXPECT_EQ(files, 1);
}

TEST(Safetensors, IoErrorsNameTheFile) {
  TempDir dir;
  auto expect_io_error = [](const std::function<void()>& f, const std::string& fragment) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one containing " << fragment;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Io);
      EXPECT_CONTAINS(e.what(), fragment);
    }
  };
  expect_io_error([&] { save_safetensors(dir.file("missing/dir/x.safetensors"), {}); }, "missing/dir/x.safetensors");
  expect_io_error([&] { load_safetensors(dir.file("absent.safetensors")); },
                  "cannot read safetensors file '" + dir.file("absent.safetensors") + "'");
  // A directory where the file should be opens fine on Linux, then fails to read: an I/O error, not a crash.
  std::filesystem::create_directories(dir.file("a-directory.safetensors"));
  expect_io_error([&] { load_safetensors(dir.file("a-directory.safetensors")); },
                  "cannot read safetensors file '" + dir.file("a-directory.safetensors") + "': it is a directory");
}

TEST(Safetensors, SavingInconsistentTensorsIsABug) {
  auto bug = [](const std::vector<NamedTensor>& tensors, const std::string& fragment) {
    try {
      encode_safetensors(tensors);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Failure);
      EXPECT_CONTAINS(e.what(), fragment);
    }
  };
  bug({make_tensor<float>("x", {3}, {1.0f, 2.0f})}, "tensor 'x': 8 bytes do not fit F32 [3]");
  bug({make_tensor<float>("x", {1}, {1.0f}), make_tensor<float>("x", {1}, {1.0f})}, "used twice");
  bug({make_tensor<float>("__metadata__", {1}, {1.0f})}, "reserved");
  bug({NamedTensor{"h", "F16", {1}, {0, 0}}}, "unknown dtype 'F16'");
}

TEST(Safetensors, TruncatedFiles) {
  const auto good = encode_safetensors(sample_tensors());
  EXPECT_CONTAINS(decode_error({1, 2, 3}), "ckpt.safetensors: only 3 bytes");
  EXPECT_CONTAINS(decode_error(std::vector<uint8_t>(good.begin(), good.begin() + 20)),
                  "exceeds the 12 bytes after it");
  const auto cut = std::vector<uint8_t>(good.begin(), good.end() - 1);
  EXPECT_CONTAINS(decode_error(cut), "are outside the");
}

TEST(Safetensors, HeaderLengthBeyondTheFile) {
  auto file = frame("{}", {});
  file[7] = 0x80;  // 2^63 + 2
  EXPECT_CONTAINS(decode_error(file), "the header length 9223372036854775810 exceeds");
}

TEST(Safetensors, BadHeaderJson) {
  EXPECT_CONTAINS(decode_error(frame("{\"a\": [1,", {})), "ckpt.safetensors (header):1:10: invalid JSON");
  EXPECT_CONTAINS(decode_error(frame("[1, 2]", {})), "the header is not a JSON object");
  EXPECT_CONTAINS(decode_error(frame(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                     R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                     std::vector<uint8_t>(8))),
                  "duplicate key 'a'");
}

TEST(Safetensors, BadEntries) {
  const std::vector<uint8_t> data(8);
  EXPECT_CONTAINS(decode_error(frame(R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", data)),
                  "tensor 'h': unknown dtype \"F16\"");
  EXPECT_CONTAINS(decode_error(frame(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data)),
                  "tensor 'x': data_offsets [0,8] hold 8 bytes but F32 [3] needs 12");
  EXPECT_CONTAINS(decode_error(frame(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data)),
                  "tensor 'x': a shape entry must be a non-negative integer, got -2");
  EXPECT_CONTAINS(decode_error(frame(R"({"x":{"dtype":"F32","shape":[2]}})", data)), "tensor 'x': missing 'data_offsets'");
  EXPECT_CONTAINS(decode_error(frame(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"z":1}})", data)),
                  "tensor 'x': unexpected key 'z'");
  EXPECT_CONTAINS(decode_error(frame(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data)),
                  "are outside the 8 data bytes");
  EXPECT_CONTAINS(decode_error(frame(R"({"__metadata__":{"k":1}})", {})), "__metadata__ 'k' must be a string");
}

TEST(Safetensors, OffsetsOutOfRangeOverlappingOrWithGaps) {
  const std::vector<uint8_t> data(8);
  EXPECT_CONTAINS(decode_error(frame(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data)),
                  "tensor 'x': data_offsets [0,16] are outside the 8 data bytes");
  EXPECT_CONTAINS(decode_error(frame(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                     data)),
                  "tensor 'y': its data [4, 8) overlaps tensor 'x'");
  EXPECT_CONTAINS(decode_error(frame(R"({"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data)),
                  "tensor 'y': its data starts at byte 4 but the previous tensor ends at 0 (a gap)");
  EXPECT_CONTAINS(decode_error(frame(R"({"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", data)),
                  "4 data bytes after the last tensor belong to none");
}

// ---------------------------------------------------------------- Python interop

bool python_has_safetensors() {
  return std::system("python3 -c 'import safetensors, numpy' >/dev/null 2>&1") == 0;
}

int run_python(const std::string& script_path, const std::string& file) {
  return std::system(("python3 " + script_path + " " + file).c_str());
}

TEST(SafetensorsPython, PythonReadsWhatGrokjitWrites) {
  if (!python_has_safetensors()) GTEST_SKIP() << "python3 with safetensors and numpy not found (pip install safetensors numpy)";
  TempDir dir;
  save_safetensors(dir.file("g.safetensors"), sample_tensors(), {{"epoch", "12"}});
  std::ofstream(dir.file("check.py")) << R"(import sys, numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file
t = load_file(sys.argv[1])
assert t["w"].dtype == np.float32 and t["w"].shape == (2, 3), t["w"]
assert np.array_equal(t["w"], np.array([[1.5, -2, 0], [3.25, 1e-7, -0.0]], dtype=np.float32))
assert t["scalar"].dtype == np.float64 and t["scalar"].shape == () and t["scalar"] == 3.141592653589793
assert t["order"].dtype == np.int32 and list(t["order"]) == [3, 0, -2, 2147483647]
assert t["step"].dtype == np.int64 and t["step"][0] == 1234567890123
assert t["mask"].dtype == np.bool_ and list(t["mask"]) == [True, False, True]
assert t["empty"].shape == (0, 5)
with safe_open(sys.argv[1], framework="numpy") as f:
    assert f.metadata() == {"epoch": "12"}, f.metadata()
)";
  EXPECT_EQ(run_python(dir.file("check.py"), dir.file("g.safetensors")), 0);
}

TEST(SafetensorsPython, GrokjitReadsWhatPythonWrites) {
  if (!python_has_safetensors()) GTEST_SKIP() << "python3 with safetensors and numpy not found (pip install safetensors numpy)";
  TempDir dir;
  std::ofstream(dir.file("write.py")) << R"(import sys, numpy as np
from safetensors.numpy import save_file
save_file({"b": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
           "a": np.array([-1, 5], dtype=np.int32),
           "d": np.array(2.5, dtype=np.float64),
           "m": np.array([False, True]),
           "i": np.array([2**40], dtype=np.int64)},
          sys.argv[1], metadata={"format": "pt"})
)";
  ASSERT_EQ(run_python(dir.file("write.py"), dir.file("p.safetensors")), 0);
  const SafetensorsContents contents = load_safetensors(dir.file("p.safetensors"));
  EXPECT_EQ(contents.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  const NamedTensor& b = find_tensor(contents, "b");
  EXPECT_EQ(b.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(tensor_values<float>(b), (std::vector<float>{0, 0.25f, 0.5f, 0.75f, 1, 1.25f}));
  EXPECT_EQ(tensor_values<int32_t>(find_tensor(contents, "a")), (std::vector<int32_t>{-1, 5}));
  EXPECT_EQ(tensor_values<double>(find_tensor(contents, "d")), (std::vector<double>{2.5}));
  EXPECT_TRUE(find_tensor(contents, "d").shape.empty());
  EXPECT_EQ(tensor_values<bool>(find_tensor(contents, "m")), (std::vector<bool>{false, true}));
  EXPECT_EQ(tensor_values<int64_t>(find_tensor(contents, "i")), (std::vector<int64_t>{int64_t{1} << 40}));
}

}  // namespace
}  // namespace grokjit::runtime
