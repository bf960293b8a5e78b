#!/usr/bin/env bash
# Packs SharpLens to a temporary folder feed and uses the packages as a user would, offline:
#   1. `dotnet tool install --tool-path` SharpLens.Tool from the folder; `sharplens` runs on its embedded demo model;
#   2. examples/patch-head.cs, copied with `#:package SharpLens@VERSION` in place of its `#:project` line and a nuget.config
#      naming only the folder (and the local package cache for the library's own dependencies), prints the same JSON as
#      the source-referencing script.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
dotnet pack SharpLens.sln -c Release -o "$work/feed" -v q -nologo
for id in SharpLens SharpLens.Reports SharpLens.Tool; do
  test -f "$work/feed/$id.$version.nupkg" || { echo "missing $id.$version.nupkg"; exit 1; }
done
unzip -l "$work/feed/SharpLens.$version.nupkg" | grep -q 'lib/net10.0/SharpLens.Core.xml' || { echo "SharpLens package has no XML docs"; exit 1; }

# Offline: the feed, and the packages this machine already restored (the library's dependencies), nothing else.
cache=${NUGET_PACKAGES:-$HOME/.nuget/packages}
cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="feed" value="$work/feed" />
    <add key="cache" value="$cache" />
  </packageSources>
</configuration>
XML
export NUGET_PACKAGES="$work/packages"   # a fresh package cache: the packed package, never an older copy

# 1. the tool
dotnet tool install --tool-path "$work/tool" --configfile "$work/nuget.config" --add-source "$work/feed" SharpLens.Tool --version "$version"
"$work/tool/sharplens" tokenize --text "Man has four fruits" --json | grep -q '"ids"' || { echo "sharplens tokenize failed"; exit 1; }
"$work/tool/sharplens" run --text "Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1 Orange 1 Grape and 1" --top 1 --json > "$work/run.json"
grep -q '"top"' "$work/run.json" || { echo "sharplens run failed"; exit 1; }
echo "ok: dotnet tool install SharpLens.Tool $version from the folder; sharplens runs the embedded demo model"

# 2. patch-head.cs against the packed library
mkdir "$work/script"
sed "s|^#:project .*|#:package SharpLens@$version|" examples/patch-head.cs > "$work/script/patch-head.cs"
cp "$work/nuget.config" "$work/script/nuget.config"
grep -q "^#:package SharpLens@$version" "$work/script/patch-head.cs"
repo=$PWD
from_package=$(cd "$work/script" && dotnet run patch-head.cs -- "$repo/models/setcomp-demo" 1 0)
# the last line: `dotnet run` prints the build's warnings, if any, before the script's output
from_package=$(printf "%s\n" "$from_package" | tail -n 1)
from_source=$(dotnet run examples/patch-head.cs -- models/setcomp-demo 1 0 | tail -n 1)
echo "package: $from_package"
[ "$from_package" = "$from_source" ] || { echo "patch-head.cs printed differently with the package: $from_source"; exit 1; }
echo "ok: patch-head.cs with #:package SharpLens@$version prints what the source build prints"
