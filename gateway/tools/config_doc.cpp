// mqttsn-config-doc README: writes the key table generated from configs/schema.json (as built in)
// between the markers of configs/README.md. Run by `cmake --build build --target config-doc`; the
// unit tests fail while the README and the schema disagree.

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "gateway/config/config.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: mqttsn-config-doc configs/README.md\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) {
    std::cerr << argv[1] << ": cannot read\n";
    return 1;
  }
  std::string readme = text.str();
  const auto begin = readme.find(gateway::config::kKeyTableBegin);
  const auto end = readme.find(gateway::config::kKeyTableEnd);
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    std::cerr << argv[1] << ": the key table's markers are missing\n";
    return 1;
  }
  const auto start = readme.find('\n', begin) + 1;
  readme.replace(start, end - start, gateway::config::key_table_markdown());
  std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
  out << readme;
  if (!out) {
    std::cerr << argv[1] << ": cannot write\n";
    return 1;
  }
  std::cout << argv[1] << ": key table written from the schema\n";
  return 0;
}
