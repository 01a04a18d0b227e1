// The pasture's 360° panorama on the lot's public page (Photo Sphere Viewer on three.js, both
// from static/vendor via the page's importmap). Where the phone has no WebGL 2 the plain
// picture stays instead, so every visitor sees the pasture.
import { Viewer } from '@photo-sphere-viewer/core';

const LANG = {
  zoom: '缩放', zoomOut: '缩小', zoomIn: '放大',
  moveUp: '向上', moveDown: '向下', moveLeft: '向左', moveRight: '向右',
  description: '说明', download: '下载', fullscreen: '全屏', loading: '全景加载中…',
  menu: '菜单', close: '关闭', twoFingers: '请用两根手指拖动',
  ctrlZoom: '按住 Ctrl 滚动以缩放', loadError: '全景图无法加载',
  webglError: '您的浏览器不支持 WebGL，已显示普通图片',
};

function hasWebGL2() {
  try {
    return !!document.createElement('canvas').getContext('webgl2');
  } catch {
    return false;
  }
}

function fallBack(box) {
  box.dataset.state = 'fallback';
  const picture = box.parentElement.querySelector('[data-panorama-fallback]');
  if (picture) picture.hidden = false;
  box.hidden = true;
}

for (const box of document.querySelectorAll('[data-panorama]')) {
  if (!hasWebGL2()) {
    fallBack(box);
    continue;
  }
  box.dataset.state = 'loading';
  const viewer = new Viewer({
    container: box,
    panorama: box.dataset.panorama,
    caption: box.dataset.caption || '',
    lang: LANG,
    loadingTxt: LANG.loading,
    navbar: ['zoom', 'move', 'caption', 'fullscreen'],
    defaultZoomLvl: 20,
    mousewheelCtrlKey: true,
  });
  viewer.addEventListener('ready', () => { box.dataset.state = 'ready'; }, { once: true });
  viewer.addEventListener('panorama-error', () => fallBack(box), { once: true });
  // Where the visitor is looking, in degrees: lets a page (and its browser test) see the view
  // follow a finger.
  viewer.addEventListener('position-updated', ({ position }) => {
    box.dataset.yaw = String(Math.round((position.yaw * 180) / Math.PI));
  });
}
