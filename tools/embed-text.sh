#!/bin/sh
# The EmbedDocuments build-tool plugin's command (Plugins/EmbedDocuments): writes a Swift file with each document
# as a raw string literal whose value is the file's text exactly (drift tests compare them byte for byte).
# A shell script rather than a Swift executable: a tool built with the package would be built with its
# sanitizers too (`swift build --sanitize fuzzer`, tools/fuzz), and libFuzzer's main would clash with its own.
#
# Usage: embed-text.sh OUTPUT TYPE ACCESS (PROPERTY DISPLAY-PATH PATH)...
set -eu
if [ $# -lt 6 ] || [ $(( ($# - 3) % 3 )) -ne 0 ]; then
  echo "usage: embed-text.sh OUTPUT TYPE ACCESS (PROPERTY DISPLAY-PATH PATH)..." >&2
  exit 2
fi
out="$1"; type="$2"; access="$3"; shift 3
tmp="$out.tmp.$$"
{
  printf '// Generated at build time by the EmbedDocuments plugin (Plugins/). Not part of the source tree.\n\n'
  printf '/// Documents compiled into the binary from their source of truth, so it runs anywhere without files beside it.\n'
  printf '%senum %s {\n' "$access" "$type"
  while [ $# -ge 3 ]; do
    prop="$1"; display="$2"; path="$3"; shift 3
    # The literal is delimited by ####; a document holding its closing delimiter or escape cannot be embedded.
    if grep -q -F -e '"""####' -e '\####' "$path"; then
      echo "embed-text: $path contains the raw-string delimiter \"\"\"#### or \\####" >&2
      exit 1
    fi
    printf '    /// `%s`.\n    %sstatic let %s = ####"""\n' "$display" "$access" "$prop"
    cat "$path"
    # The literal's last line break (before the closing delimiter) is not part of its value: the text ends as the file does.
    printf '\n"""####\n'
  done
  printf '}\n'
} > "$tmp"
mv "$tmp" "$out"
