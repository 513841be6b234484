#include "runtime/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "ir/error.h"

namespace grokjit::runtime {

namespace {

[[noreturn]] void write_failed(const std::string& path, const std::string& step, int error) {
  throw Error("cannot write '" + path + "' (" + step + "): " + std::strerror(error), ExitCode::Io);
}

void write_all(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      write_failed(path, "write", errno);
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
}

std::string parent_folder(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string read_text_file(const std::string& path, const char* what, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + std::string(what) + " '" + path + "': " + std::strerror(errno), ExitCode::Io);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))  // opens fine on Linux, then reads nothing
    throw Error("cannot read " + std::string(what) + " '" + path + "': it is a directory", ExitCode::Io);
  // Read in chunks up to the cap: a device or a pipe (/dev/zero, `<(yes)`) has no size to check first.
  std::string text;
  std::string chunk(size_t{1} << 16, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    text.append(chunk.data(), static_cast<size_t>(in.gcount()));
    if (text.size() > max_bytes)
      throw Error("cannot read " + std::string(what) + " '" + path + "': longer than " +
                      std::to_string(max_bytes >> 20) + " MiB, which no " + what + " is",
                  ExitCode::Io);
  }
  if (in.bad()) throw Error("cannot read " + std::string(what) + " '" + path + "': read failed", ExitCode::Io);
  return text;
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  std::error_code ec;
  const auto status = std::filesystem::symlink_status(path, ec);  // the path itself, not what a link points to
  if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    // A device, a pipe or a link (-o /dev/stdout, a link to /proc/self/fd/1): renaming over it would
    // replace it with a file. Write through it instead (a directory fails to open, with its reason).
    const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) write_failed(path, "open", errno);
    try {
      write_all(fd, bytes.data(), bytes.size(), path);
    } catch (...) {
      ::close(fd);
      throw;
    }
    if (::close(fd) != 0) write_failed(path, "close", errno);
    return;
  }
  static std::atomic<uint64_t> counter{0};
  const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) write_failed(path, "create " + temp, errno);
  try {
    write_all(fd, bytes.data(), bytes.size(), path);
    if (::fsync(fd) != 0) write_failed(path, "fsync", errno);
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    write_failed(path, "close", error);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    write_failed(path, "rename", error);
  }
  // Make the rename itself durable; a folder that cannot be opened or
  // fsynced (some file systems) does not undo the write.
  const int dir = ::open(parent_folder(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

namespace {
struct HeldLock {
  int fd = -1;
  int holders = 0;
};
std::mutex g_locks_mutex;
std::map<std::string, HeldLock> g_locks;  // by the directory's "device:inode"
}  // namespace

bool same_file(const std::string& a, const std::string& b) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec) && !ec;
  std::error_code ec_a, ec_b;
  const fs::path ca = fs::weakly_canonical(a, ec_a), cb = fs::weakly_canonical(b, ec_b);
  return !ec_a && !ec_b && ca == cb;
}

void create_output_directory(const std::string& dir, const std::string& what) {
  namespace fs = std::filesystem;
  auto refuse = [&](const std::string& why) {
    throw Error(what + " '" + dir + "': " + why, ExitCode::Io);
  };
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(dir, ec);
  if (fs::is_symlink(status) && !fs::exists(dir, ec))
    refuse("a link to '" + fs::read_symlink(dir, ec).string() + "', which does not exist");
  if (fs::exists(status) && !fs::is_directory(dir, ec)) refuse("not a directory");
  fs::create_directories(dir, ec);
  if (ec) refuse("cannot create it: " + ec.message());
}

DirectoryLock::DirectoryLock(const std::string& dir) {
  create_output_directory(dir, "run directory");
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    throw Error("cannot read directory '" + dir + "': " + std::strerror(errno), ExitCode::Io);
  // One key per directory however it is reached (relative, absolute, links, bind mounts).
  const std::string key = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  const std::string path = dir + "/.grokjit.lock";
  std::lock_guard<std::mutex> guard(g_locks_mutex);
  if (auto it = g_locks.find(key); it != g_locks.end()) {
    ++it->second.holders;
    key_ = key;
    return;
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  const bool writable = fd >= 0;
  if (fd < 0 && errno == EACCES) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // another user's: flock works read-only
  if (fd < 0) throw Error("cannot open lock file '" + path + "': " + std::strerror(errno), ExitCode::Io);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error != EWOULDBLOCK) {  // no flock here (ENOLCK, EOPNOTSUPP...): run unlocked
      ::close(fd);
      return;
    }
    char pid[32] = {0};
    const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    throw Error(dir + " is in use by another grokjit process" + (holder.empty() ? "" : " (pid " + holder + ")") +
                    ": wait for it to finish, or give another output directory",
                ExitCode::Usage);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (writable && ::ftruncate(fd, 0) == 0) {  // the pid only makes the other process's message clearer
    const ssize_t written = ::pwrite(fd, pid.data(), pid.size(), 0);
    static_cast<void>(written);
  }
  g_locks[key] = HeldLock{fd, 1};
  key_ = key;
}

DirectoryLock::~DirectoryLock() {
  if (key_.empty()) return;
  std::lock_guard<std::mutex> guard(g_locks_mutex);
  auto it = g_locks.find(key_);
  if (it == g_locks.end() || --it->second.holders > 0) return;
  ::close(it->second.fd);  // releases the flock; the file stays (harmless, and removing it would race)
  g_locks.erase(it);
}

std::string iso_utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace grokjit::runtime
