#pragma once
// A fresh directory under the system's temp directory for one test, removed with everything in
// it when the test ends. Shared by the unit and integration tests.

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace test_common {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix = "mqttsn-test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern + " failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The path of `name` in it, as a string (nothing is created).
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Writes `text` to `name` (directories on the way are made) and returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    const auto target = path_ / name;
    std::filesystem::create_directories(target.parent_path());
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + target.string());
    return target.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace test_common
