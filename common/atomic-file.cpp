#include "common/atomic-file.h"

#include "common/error.h"

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace cg {

namespace fs = std::filesystem;

namespace {

// Every temporary name holds it, whichever process or version made it.
constexpr std::string_view kTemporaryMark = ".tmp";

[[noreturn]] void fail(const std::string& path, const std::string& tmp, int err) {
  ::unlink(tmp.c_str());
  throw Error(ErrorKind::kIo, path + ": cannot write (" + std::strerror(err) + ")");
}

fs::path folder_of(const fs::path& target) { return target.has_parent_path() ? target.parent_path() : fs::path("."); }

}  // namespace

std::string temporary_path(const std::string& path, std::string_view suffix) {
  const fs::path target(path);
  std::string name = "." + target.filename().string();
  name.append(kTemporaryMark).append("-").append(std::to_string(::getpid())).append(suffix);
  return (folder_of(target) / name).string();
}

void remove_leftover_temporaries(const std::string& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 1 && name[0] == '.' && name.find(kTemporaryMark) != std::string::npos) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::string tmp = temporary_path(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrorKind::kIo, path + ": cannot write (" + std::strerror(errno) + ")");
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      ::close(fd);
      fail(path, tmp, err);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail(path, tmp, err);
  }
  if (::close(fd) != 0) fail(path, tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail(path, tmp, errno);
  // Make the rename itself durable.
  const int dfd = ::open(folder_of(fs::path(path)).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace cg
