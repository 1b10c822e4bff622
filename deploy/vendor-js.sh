#!/usr/bin/env bash
# Refresh the JavaScript libraries the web UI serves (server/ui/static/vendor): each is
# fetched from the npm registry with `npm pack NAME@VERSION` at the version pinned below,
# its minified file and licence copied in, and VERSIONS rewritten with the tarball's
# sha512 integrity. Nothing is loaded from a CDN at run time. Change a pin here, run
# this, test the UI (tests/ui), and commit the result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEST="$PWD/server/ui/static/vendor"

# name@version  file in the package  name it is served under
PINS=(
    "htmx.org@2.0.8            dist/htmx.min.js                  htmx.min.js"
    "cytoscape@3.35.0          dist/cytoscape.min.js             cytoscape.min.js"
    "cytoscape-dagre@4.0.1     dist/cytoscape-dagre.min.js       cytoscape-dagre.min.js"
)
# bundled inside cytoscape-dagre's dist file: only their licences are copied
LICENCE_ONLY=("@dagrejs/dagre@3.1.3" "@dagrejs/graphlib@4.0.6")

command -v npm >/dev/null || { echo "vendor-js.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$DEST"
{
    echo "# Vendored JavaScript for server/ui (refreshed by deploy/vendor-js.sh; do not edit)"
    echo "# package version file integrity(sha512 of the npm tarball)"
} >"$work/VERSIONS"

fetch() {  # fetch PACKAGE@VERSION -> prints the unpacked package dir
    local spec="$1" dir
    dir="$work/$(echo "$spec" | tr '/@' '__')"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent --json "$spec" >pack.json 2>/dev/null)
    tar xzf "$dir"/*.tgz -C "$dir"
    echo "$dir"
}

for line in "${PINS[@]}"; do
    read -r spec file served <<<"$line"
    dir="$(fetch "$spec")"
    name="${spec%@*}"
    version="${spec##*@}"
    cp "$dir/package/$file" "$DEST/$served"
    cp "$dir/package/LICENSE" "$DEST/LICENSE.$(echo "${name#@}" | tr / -)"
    integrity="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["integrity"])' "$dir/pack.json")"
    echo "$name $version $served $integrity" >>"$work/VERSIONS"
    echo "vendor-js.sh: $name $version -> $served" >&2
done
for spec in "${LICENCE_ONLY[@]}"; do
    dir="$(fetch "$spec")"
    name="${spec%@*}"
    version="${spec##*@}"
    cp "$dir/package/LICENSE" "$DEST/LICENSE.$(echo "${name#@}" | tr / -)"
    echo "$name $version (bundled in cytoscape-dagre.min.js) licence-only" >>"$work/VERSIONS"
done
cp "$work/VERSIONS" "$DEST/VERSIONS"
echo "vendor-js.sh: done; see $DEST/VERSIONS" >&2
