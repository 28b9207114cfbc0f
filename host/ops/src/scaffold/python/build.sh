#!/bin/sh
# Builds __ARTIFACT__.wasm from app.py against wit/plugin.wit (world __WORLD__).
# Needs componentize-py: python3 -m pip install --user componentize-py==0.25.1
set -eu
cd "$(dirname "$0")"
componentize-py -d wit/plugin.wit -w __WORLD__ componentize app -o __ARTIFACT__.wasm
echo "built $(pwd)/__ARTIFACT__.wasm"
