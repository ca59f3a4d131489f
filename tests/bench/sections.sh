# Sourced by the benches that keep a section of their own in tests/bench/RESULTS.md (flood.sh,
# dtls.sh): the section sits between "<!-- NAME: begin -->" and "<!-- NAME: end -->" markers, so a
# bench replaces only its own copy, and run.sh (which rewrites RESULTS.md) copies every one back.

# The benches with a section: NAME of the script and the markdown file it writes.
RESULTS_SECTIONS=("flood.sh tests/bench/FLOOD.md" "dtls.sh tests/bench/DTLS.md")

# embed_section NAME FILE: FILE into tests/bench/RESULTS.md between NAME's markers, replacing an
# earlier copy, or appended.
embed_section() {
  python3 - tests/bench/RESULTS.md "$1" "$2" <<'PY'
import os, sys
results, name, section = sys.argv[1:]
text = open(results).read() if os.path.exists(results) else ""
begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->\n"
block = begin + "\n" + open(section).read() + end
if begin in text and end in text:
    text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + block
open(results, "w").write(text)
PY
}

# print_sections: every section whose file exists, with its markers (for run.sh's rewrite).
print_sections() {
  local entry name file
  for entry in "${RESULTS_SECTIONS[@]}"; do
    read -r name file <<<"$entry"
    [ -f "$file" ] || continue
    echo
    echo "<!-- $name: begin -->"
    cat "$file"
    echo "<!-- $name: end -->"
  done
}
