#!/usr/bin/env bash
# Builds .dev-gpu/: a self-contained copy of `npm run bench -- gpu` for a bare GPU machine that has
# no Node.js and no network (the workplace's lent device): the node binary (xz), the bench bundled
# with esbuild, onnxruntime-node's linux-x64 binary, the converted ESRGAN-slim x4 model and the
# baboon photo as raw RGB at 512² and 1024². `.gl/` gets Debian's Vulkan loader and glvnd packages.
# On the GPU machine: `bash .dev-gpu/run.sh` (written here too). See docs/benchmarks.md, "GPU".
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .dev-gpu .gl /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
apt-get $o update -qq
(cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
xz -T2 -6 -c "$(command -v node)" > .dev-gpu/node.xz
printf "import { main } from '../bench/gpu.js';\nawait main(process.argv.slice(2));\n" > .dev-gpu/entry.ts
npx esbuild .dev-gpu/entry.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile=.dev-gpu/gpu.mjs --external:onnxruntime-node --external:sharp \
  "--banner:js=import {createRequire as __cr} from 'module'; const require = __cr(import.meta.url);"
# The bundle never calls sharp with --input-rgb; a stub satisfies its import.
stub=$(mktemp -d)
mkdir -p "$stub/node_modules/sharp"
echo '{"name":"sharp","version":"0.0.0-stub","main":"index.js"}' > "$stub/node_modules/sharp/package.json"
echo 'module.exports = () => { throw new Error("sharp is not carried"); };' > "$stub/node_modules/sharp/index.js"
tar -cJf .dev-gpu/nm.tar.xz node_modules/onnxruntime-common node_modules/onnxruntime-node/package.json \
  node_modules/onnxruntime-node/dist node_modules/onnxruntime-node/bin/napi-v6/linux/x64 node_modules/onnx-proto \
  node_modules/protobufjs node_modules/@protobufjs node_modules/long -C "$stub" node_modules/sharp
node --input-type=module -e "
import { ensureUpscalerModel } from './libs/engine/dist/model-cache.js';
import { copyFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import sharp from 'sharp';
copyFileSync(await ensureUpscalerModel('esrgan-slim-x4'), '.dev-gpu/model.onnx');
const uri = createRequire(import.meta.url)('baboon-image-uri');
const png = Buffer.from(uri.slice(uri.indexOf(',') + 1), 'base64');
for (const n of [512, 1024]) {
  const { data } = await sharp(png).resize(n, n, { kernel: 'lanczos3' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  writeFileSync('.dev-gpu/input-' + n + '.rgb', data);
}"
cat > .dev-gpu/run.sh <<'RUN'
#!/bin/bash
# On the GPU machine, from the repository root: unpack Vulkan/glvnd, node and onnxruntime, run the bench.
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$ICD" ] && export VK_DRIVER_FILES=$ICD __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
xz -dc .dev-gpu/node.xz > /tmp/node && chmod +x /tmp/node
mkdir -p /tmp/g && tar -xJf .dev-gpu/nm.tar.xz -C /tmp/g && cp .dev-gpu/gpu.mjs .dev-gpu/model.onnx .dev-gpu/input-*.rgb /tmp/g/
cd /tmp/g
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
for n in 512 1024; do
  timeout 200 /tmp/node gpu.mjs --providers cpu,webgpu --model-path model.onnx --input-rgb input-$n.rgb \
    --size ${n}x$n --reps 5 --tiles 32 2>&1 | tee "${OUT:-/tmp}/gpu-$n.log" | grep -v '^    at '
done
RUN
echo "payload: $(du -sh .dev-gpu .gl | tr '\n' ' ')"
