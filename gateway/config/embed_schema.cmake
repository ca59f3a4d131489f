# cmake -DIN=configs/schema.json -DOUT=schema_text.cpp -P embed_schema.cmake: the schema as a
# string the gateway carries, so a packaged binary validates without the file beside it.
file(READ "${IN}" text)
string(FIND "${text}" ")schema\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string's delimiter )schema\"")
endif()
file(WRITE "${OUT}.tmp" "// Made from configs/schema.json by gateway/config/embed_schema.cmake: edit the schema.
#include <string_view>

namespace gateway::config::detail {
extern const std::string_view kSchemaText;
const std::string_view kSchemaText = R\"schema(${text})schema\";
}  // namespace gateway::config::detail
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
