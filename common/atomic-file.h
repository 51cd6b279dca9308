// Writing a file so that a crash, a kill or a full disk at any moment leaves either the complete
// new file or the previous one, never a torn file.
#pragma once

#include <string>
#include <string_view>

namespace cg {

// Writes `bytes` to temporary_path(path), flushes it to disk, then renames it over `path`. Throws
// Error(ErrorKind::kIo, "<path>: cannot write (<reason>)") and removes the temporary file on any
// failure. (LibTorch's own save-to-file terminates the process when the disk fills up: its zip
// writer throws from a destructor. Serialise to memory, then write with this.)
void write_file_atomically(const std::string& path, std::string_view bytes);

// The temporary file beside `path` that a write of `path` goes to before its rename:
// DIR/.NAME.tmp-PID, hidden, and per process so that two writers never share one. `suffix` is
// appended for writers that choose the format from the extension (".png" for OpenCV).
std::string temporary_path(const std::string& path, std::string_view suffix = {});

// Removes from `dir` the temporary files that writes killed before their rename left behind
// (those of temporary_path, and the ".NAME.tmp.png" of earlier versions). Only for a folder no
// other process is writing to; errors are ignored, as a leftover costs nothing but space.
void remove_leftover_temporaries(const std::string& dir);

}  // namespace cg
