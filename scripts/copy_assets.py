"""Copy the browser assets npm installed into the web app's static folder.

Run by `make assets` after `npm ci`; the copies are build output and not committed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
TARGET = ROOT / "src" / "freshloop" / "web" / "static" / "vendor"

ASSETS = {
    "htmx/htmx.min.js": "htmx.org/dist/htmx.min.js",
    "alpinejs/alpine.min.js": "alpinejs/dist/cdn.min.js",
    "echarts/echarts.min.js": "echarts/dist/echarts.min.js",
    "hls/hls.min.js": "hls.js/dist/hls.min.js",
    "weui/weui.min.css": "weui/dist/style/weui.min.css",
    "weixin/jweixin.js": "weixin-js-sdk/index.js",
    # The 360° panorama of the lot page (food/trace): ES modules loaded through an importmap,
    # "three" resolving to three's module build, which imports its core file next to it.
    "photo-sphere-viewer/index.module.js": "@photo-sphere-viewer/core/index.module.js",
    "photo-sphere-viewer/index.css": "@photo-sphere-viewer/core/index.css",
    "three/three.module.min.js": "three/build/three.module.min.js",
    "three/three.core.min.js": "three/build/three.core.min.js",
}

# npm packages that export a CommonJS module, and the browser global each one becomes.
AS_GLOBAL = {"weixin/jweixin.js": ("wx", "jWeixin")}


def _as_browser_global(source: str, names: tuple[str, ...]) -> str:
    """Wrap a CommonJS file so a plain <script> tag defines `window.<name>` for each name."""
    assign = " = ".join(f"window.{name}" for name in names)
    return f"(function () {{ var module = {{ exports: {{}} }};\n{source}\n{assign} = module.exports; }})();\n"


def main() -> int:
    missing = [source for source in ASSETS.values() if not (NODE_MODULES / source).exists()]
    if missing:
        print(f"missing npm assets (run `npm ci`): {', '.join(missing)}", file=sys.stderr)
        return 1
    for target, source in ASSETS.items():
        destination = TARGET / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        if target in AS_GLOBAL:
            text = (NODE_MODULES / source).read_text(encoding="utf-8")
            destination.write_text(_as_browser_global(text, AS_GLOBAL[target]), encoding="utf-8")
        else:
            shutil.copyfile(NODE_MODULES / source, destination)
    print(f"copied {len(ASSETS)} assets into {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
