#!/usr/bin/env bash
# Regenerates the README's screenshots (docs/screenshots/*.png) from the embedded demo model with headless Chromium:
# the report's first screen (the findings summary) and the attention viewer of `sharplens run --attention` on the seed prompt.
#   tools/screenshots.sh            (needs /usr/bin/chromium; builds the CLI first)
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build src/SharpLens.Cli -c Release -v q -nologo >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dotnet src/SharpLens.Cli/bin/Release/net10.0/sharplens.dll study --out "$tmp/study" >/dev/null 2>&1
mkdir -p docs/screenshots
shot() {  # url, output, width, height
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$tmp/profile" \
    --window-size="$3,$4" --screenshot="$2" "$1" >/dev/null 2>&1
}
shot "file://$tmp/study/report.html" docs/screenshots/report-summary.png 1400 900
dotnet src/SharpLens.Cli/bin/Release/net10.0/sharplens.dll run --top 1 --attention --out "$tmp/run" \
  --text "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1" >/dev/null 2>&1
shot "file://$tmp/run/attention.html" docs/screenshots/attention-viewer.png 1400 900
echo "wrote docs/screenshots/report-summary.png and docs/screenshots/attention-viewer.png"
