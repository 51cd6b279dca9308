// Writing a file so that a crash, a kill or a full disk at any moment leaves either the complete
// new file or the previous one, never a torn file.
#pragma once

#include <string>
#include <string_view>

namespace cg {

// Writes `bytes` to a temporary file beside `path`, flushes it to disk, then renames it over
// `path`. Throws ModelFileError("<path>: cannot write (<reason>)") and removes the temporary file
// on any failure. (LibTorch's own save-to-file terminates the process when the disk fills up: its
// zip writer throws from a destructor. Serialise to memory, then write with this.)
void write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace cg
