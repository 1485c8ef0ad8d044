#!/bin/bash
# Our Documentation builds with the kernel's own Sphinx setup without
# warnings for our files.
#
# "Our files" are what the series adds or changes under Documentation/
# (git diff base, committed or not).  A full `make htmldocs` is far too slow
# for a lane on two cores, so this runs the command Documentation/Makefile runs for
# htmldocs (sphinx-build -b html -c Documentation, the same -D options,
# srctree, SPHINX_CONF, PYTHONDONTWRITEBYTECODE), on the real
# Documentation/ directory, but with every document excluded
# (exclude_patterns) except:
#   - our .rst files and the index.rst of each directory above them;
#   - the documents that render our other files (`.. include::` of
#     admin-guide/kernel-parameters.txt, `.. kernel-abi:: ABI/testing` for
#     our ABI files, kernel-include, literalinclude, kernel-feat); with an
#     ABI file, all four abi-*.rst (get_abi.pl links across them);
#   - documents our files name with :doc: or :ref:`doc:label`.
# Only warnings naming one of our files count, and of those a "toctree
# contains reference to excluded/nonexisting document" only when that
# document does not exist in the tree (the others are left out on purpose).
# Nothing is written into the kernel tree; output goes to build/docs.
#
# Needs (Debian 12): python3-sphinx (5.3.0; brings python3-docutils and
# python3-alabaster, the default theme) and perl (scripts/get_abi.pl,
# get_feat.pl, kernel-doc).  Not needed for this: python3-sphinx-rtd-theme
# (only with DOCS_THEME=sphinx_rtd_theme), python3-yaml (only the netlink
# spec generation of `make htmldocs`), graphviz/imagemagick (figures).
#
#   LINUX_TREE=<git tree with a 'base' tag>  check another tree
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tree=$(cd "${LINUX_TREE:-$top/build/linux}" && pwd)
doc=$tree/Documentation
out=$top/build/docs
SPHINXBUILD=${SPHINXBUILD:-sphinx-build}
fail=0

if ! command -v "$SPHINXBUILD" >/dev/null; then
	echo "FAIL sphinx"; echo "    $SPHINXBUILD not found: run 'make setup'"; exit 1
fi
# The version is information, not a check (the lane counts "ok" lines).
echo "# sphinx $("$SPHINXBUILD" --version 2>&1 | awk '{print $NF}')"

mapfile -t ours < <(git -C "$tree" diff --name-only --diff-filter=d base -- Documentation)
if [ ${#ours[@]} -eq 0 ]; then
	echo "SKIP documentation: no Documentation changes above base"; exit 0
fi

rm -rf "$out"
mkdir -p "$out"

# The documents to build (docnames, one a line, to $out/docs) and the
# exclude_patterns that leave only them (comma separated, to $out/exclude).
python3 - "$doc" "$out" "${ours[@]}" <<'EOF'
import os, re, sys
doc, out, ours = sys.argv[1], sys.argv[2], [p[len('Documentation/'):] for p in sys.argv[3:]]
directive = re.compile(r'^\s*\.\.\s+(include|literalinclude|kernel-include|kernel-abi|kernel-feat)::\s*(\S+)', re.M)
keep = {'index.rst'}
rendered = set()   # our non-rst files some document renders
for f in ours:
    if f.endswith('.rst'):
        keep.add(f)
# Documents that include or render one of our other files.
others = [f for f in ours if not f.endswith('.rst')]
if others:
    for d, dirs, files in os.walk(doc):
        dirs[:] = [x for x in dirs if x != 'output']
        for n in files:
            if not n.endswith('.rst'):
                continue
            p = os.path.join(d, n)
            text = open(p, encoding='utf-8', errors='replace').read()
            for kind, arg in directive.findall(text):
                arg = arg.replace('${srctree}', '$srctree').replace('$srctree', os.path.dirname(doc))
                if kind in ('kernel-abi', 'kernel-feat'):
                    target = os.path.join(doc, arg)
                elif arg.startswith('/') and kind == 'literalinclude' and not os.path.exists(arg):
                    target = os.path.join(doc, arg[1:])
                else:
                    target = os.path.join(d, arg)
                target = os.path.relpath(os.path.normpath(target), doc)
                for f in others:
                    if f == target or f.startswith(target + '/'):
                        keep.add(os.path.relpath(p, doc))
                        rendered.add(f)
# get_abi.pl cross-references symbols of all ABI directories.
if any(f.startswith('ABI/') for f in others):
    for d, dirs, files in os.walk(doc):
        for n in files:
            p = os.path.join(d, n)
            if n.endswith('.rst') and 'kernel-abi::' in open(p, encoding='utf-8', errors='replace').read():
                keep.add(os.path.relpath(p, doc))
# Documents our files refer to, so that references resolve.
docref = re.compile(r':doc:`(?:[^`<]*<)?([^`<>]+)>?`|:ref:`(?:[^`<]*<)?([^`<>:]+):[^`]*`')
for f in ours:
    text = open(os.path.join(doc, f), encoding='utf-8', errors='replace').read()
    for a, b in docref.findall(text):
        t = (a or b).strip()
        t = t[1:] if t.startswith('/') else os.path.join(os.path.dirname(f), t)
        if os.path.isfile(os.path.join(doc, t + '.rst')):
            keep.add(os.path.normpath(t) + '.rst')
# The index.rst of every directory above a kept document (its toctree).
for f in list(keep):
    d = os.path.dirname(f)
    while d:
        if os.path.isfile(os.path.join(doc, d, 'index.rst')):
            keep.add(os.path.join(d, 'index.rst'))
        d = os.path.dirname(d)
# Exclude every entry that neither is nor holds a kept document.
ancestors = {os.path.dirname(k) for k in keep}
for k in keep:
    d = os.path.dirname(k)
    while d:
        d = os.path.dirname(d)
        ancestors.add(d)
exclude = ['output']
for a in sorted(ancestors):
    for n in sorted(os.listdir(os.path.join(doc, a))):
        rel = os.path.join(a, n)
        if rel in keep or rel in ancestors or rel == 'output':
            continue
        if ',' in rel:
            sys.exit('check-docs: cannot exclude %s (comma)' % rel)
        exclude.append(rel)
open(os.path.join(out, 'docs'), 'w').write(''.join(k + '\n' for k in sorted(keep)))
open(os.path.join(out, 'unrendered'), 'w').write(''.join(
    'Documentation/' + f + '\n' for f in others if f not in rendered))
open(os.path.join(out, 'exclude'), 'w').write(','.join(exclude))
EOF

kver=$(awk '/^VERSION =/{v=$3} /^PATCHLEVEL =/{p=$3} /^SUBLEVEL =/{s=$3} /^EXTRAVERSION =/{e=$3}
	END{print v"."p"."s e}' "$tree/Makefile")
start=$(date +%s)
rc=0
PYTHONDONTWRITEBYTECODE=1 BUILDDIR="$out" SPHINX_CONF="$doc/conf.py" srctree="$tree" \
	nice -n 19 "$SPHINXBUILD" -b html -q -c "$doc" -d "$out/.doctrees" \
	-D version="$kver" -D release="$kver" \
	-D kerneldoc_srctree="$tree" -D kerneldoc_bin="$tree/scripts/kernel-doc" \
	-D exclude_patterns="$(cat "$out/exclude")" \
	"$doc" "$out/html" > "$out/log" 2>&1 || rc=$?
secs=$(( $(date +%s) - start ))

if [ $rc -ne 0 ]; then
	echo "FAIL sphinx-build (exit $rc)"; tail -n 20 "$out/log" | sed 's/^/    /'; fail=1
fi

# Warnings and errors (Sphinx's and get_abi.pl's), paths relative to the tree.
sed "s#$tree/##g" "$out/log" | grep -iE 'warning|error|severe' > "$out/warnings" || true
ndocs=$(grep -c . "$out/docs")
nall=$(grep -c . "$out/warnings" || true)
nours=0

for f in "${ours[@]}"; do
	# Nothing looked at these: a skip with its reason, never an ok.
	if grep -qxF "$f" "$out/unrendered"; then
		echo "SKIP $f: no document renders it, so Sphinx never reads it"; continue
	fi
	if [ $rc -ne 0 ]; then
		echo "SKIP $f: sphinx-build failed before its warnings could be read"; continue
	fi
	re="(^|[ /'\"])$(printf '%s' "$f" | sed 's/[.[\*^$+?(){}|]/\\&/g')([:# '\"]|$)"
	found=$(grep -E "$re" "$out/warnings" || true)
	# A toctree entry for a document the restricted build left out.
	found=$(printf '%s\n' "$found" | while IFS= read -r l; do
		[ -n "$l" ] || continue
		if [[ $l =~ reference\ to\ (excluded|nonexisting)\ document\ \'([^\']+)\' ]]; then
			[ -f "$doc/${BASH_REMATCH[2]}.rst" ] && continue
		fi
		printf '%s\n' "$l"
	done)
	if [ -n "$found" ]; then
		echo "FAIL $f"; printf '%s\n' "$found" | sed 's/^/    /'; fail=1
		nours=$((nours + $(printf '%s\n' "$found" | grep -c .)))
	else
		echo "ok   $f"
	fi
done
[ $rc -eq 0 ] &&
	echo "ok   sphinx-build: $ndocs documents in ${secs}s, $((nall - nours)) warning(s) about other files or left-out documents ignored"
exit $fail
