// The host console: buttons call /api/v1/live/host/<code>/…, comments arrive over the room's
// SSE stream, the numbers are polled every 2 s. Viewer-typed text (comments, nicknames) only
// ever goes into the page through textContent — never innerHTML.
(function () {
  'use strict';

  const config = JSON.parse(document.getElementById('host-config').textContent);
  const api = config.api;
  const root = document.querySelector('[data-testid=host-console]');
  const toast = document.querySelector('[data-testid=host-toast]');
  const STATS_EVERY_MS = 2000;
  const CHART_POINTS = 150; // 5 minutes at one point per 2 s
  const MAX_COMMENTS = 200;
  const personByComment = new Map();


  function el(tag, options, children) {
    const node = document.createElement(tag);
    const opts = options || {};
    if (opts.className) node.className = opts.className;
    if (opts.text !== undefined) node.textContent = String(opts.text);
    if (opts.testid) node.dataset.testid = opts.testid;
    if (opts.title) node.title = opts.title;
    (children || []).forEach((child) => node.appendChild(child));
    return node;
  }

  let toastTimer = null;
  function say(message, kind) {
    toast.textContent = message;
    toast.className = 'toast ' + (kind || 'ok');
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, 4000);
  }

  // The console's API helper (web/console.js); a refusal is also said in the toast.
  async function call(method, path, body) {
    try { return await window.consoleApi(method, api + path, body); }
    catch (error) { say(error.message, 'error'); throw error; }
  }

  function yuan(fen) {
    const value = Number(fen || 0);
    const whole = Math.floor(value / 100).toLocaleString('zh-CN');
    return '¥' + whole + '.' + String(value % 100).padStart(2, '0');
  }

  function yuanToFen(text) {
    const match = String(text || '').trim().match(/^(\d{1,7})(?:\.(\d{1,2}))?$/);
    if (!match) return null;
    return Number(match[1]) * 100 + Number((match[2] || '').padEnd(2, '0'));
  }

  function shanghaiTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return '';
    return date.toLocaleTimeString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false });
  }

  // --- status ------------------------------------------------------------------------------

  const STATUS_LABELS = { scheduled: '预告中', live: '直播中', ended: '已结束', replay: '可回放' };
  function showStatus(status) {
    config.status = status;
    const badge = root.querySelector('[data-testid=live-status]');
    badge.textContent = STATUS_LABELS[status] || status;
    badge.className = 'badge status-' + status;
    root.querySelector('[data-testid=go-live]').hidden = status !== 'scheduled';
    root.querySelector('[data-testid=end-live]').hidden = status !== 'live';
  }

  root.querySelector('[data-testid=go-live]').addEventListener('click', async (event) => {
    event.target.disabled = true;
    try {
      const state = await call('POST', '/start');
      showStatus(state.status);
      say('已开播，观众现在可以看到直播了');
    } catch (e) { /* shown */ } finally { event.target.disabled = false; }
  });

  root.querySelector('[data-testid=end-live]').addEventListener('click', async (event) => {
    if (!window.confirm('确定结束直播？进行中的秒杀会一起结束。')) return;
    event.target.disabled = true;
    try {
      const state = await call('POST', '/end');
      showStatus(state.status);
      say('直播已结束');
      loadFlashSales();
    } catch (e) { /* shown */ } finally { event.target.disabled = false; }
  });
  // The page renders them disabled so that a click before this script ran is not lost
  // silently (the button would look ready and do nothing).
  root.querySelectorAll('[data-testid=go-live], [data-testid=end-live]').forEach((button) => { button.disabled = false; });

  // --- products ----------------------------------------------------------------------------

  function showPinned(skuId) {
    root.querySelectorAll('table.products tr[data-sku]').forEach((row) => {
      row.classList.toggle('pinned', Number(row.dataset.sku) === Number(skuId));
    });
  }

  root.querySelectorAll('[data-pin]').forEach((button) => {
    button.addEventListener('click', async () => {
      try {
        const card = await call('POST', '/pin', { sku_id: Number(button.dataset.pin) });
        showPinned(card.sku_id);
        say('已置顶：' + card.name);
      } catch (e) { /* shown */ }
    });
  });
  root.querySelectorAll('[data-unpin]').forEach((button) => {
    button.addEventListener('click', async () => {
      try {
        await call('POST', '/unpin');
        showPinned(null);
        say('已取消置顶');
      } catch (e) { /* shown */ }
    });
  });

  // --- flash sales -------------------------------------------------------------------------

  const productNames = new Map(config.products.map((p) => [p.sku_id, p.name + ' ' + p.spec]));
  const FLASH_LABELS = { running: '进行中', ended: '已结束', cancelled: '已取消' };

  function renderFlashSales(sales) {
    const body = document.getElementById('flash-rows');
    body.replaceChildren();
    if (!sales.length) {
      const cell = el('td', { className: 'empty', text: '还没有发起秒杀' });
      cell.colSpan = 6;
      body.appendChild(el('tr', {}, [cell]));
      return;
    }
    sales.forEach((sale) => {
      const running = sale.status === 'running' && new Date(sale.ends_at) > new Date();
      const actions = el('td', { className: 'row-actions' });
      if (running) {
        const stop = el('button', { className: 'btn small danger', text: '结束', testid: 'flash-end-' + sale.id });
        stop.type = 'button';
        stop.addEventListener('click', async () => {
          try { await call('POST', '/flash-sales/' + sale.id + '/end'); say('秒杀已结束'); loadFlashSales(); } catch (e) { /* shown */ }
        });
        actions.appendChild(stop);
      }
      body.appendChild(el('tr', { testid: 'flash-row' }, [
        el('td', { text: productNames.get(sale.sku_id) || ('SKU ' + sale.sku_id) }),
        el('td', { text: yuan(sale.price_fen) }),
        el('td', { text: sale.claimed + ' / ' + sale.quantity }),
        el('td', { text: sale.paid }),
        el('td', { text: running ? '进行中 · 至 ' + shanghaiTime(sale.ends_at) : (FLASH_LABELS[sale.status] === '进行中' ? '已到时' : FLASH_LABELS[sale.status] || sale.status) }),
        actions,
      ]));
    });
  }

  let flashSales = config.flash_sales || [];
  async function loadFlashSales() {
    try {
      flashSales = await call('GET', '/flash-sales');
      renderFlashSales(flashSales);
    } catch (e) { /* shown */ }
  }

  root.querySelector('[data-testid=flash-form]').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const priceFen = yuanToFen(form.price.value);
    if (priceFen === null || priceFen < 1) { say('秒杀价请填写金额，如 9.9', 'error'); return; }
    const quantity = Number(form.quantity.value);
    const limit = Number(form.per_user_limit.value || 1);
    const minutes = Number(form.minutes.value || 10);
    if (!Number.isInteger(quantity) || quantity < 1) { say('秒杀数量须为正整数', 'error'); return; }
    if (!Number.isInteger(limit) || limit < 1) { say('每人限购须为正整数', 'error'); return; }
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) { say('持续时间为 1 到 1440 分钟', 'error'); return; }
    const button = form.querySelector('[data-testid=flash-start]');
    button.disabled = true;
    try {
      const sale = await call('POST', '/flash-sales', {
        sku_id: Number(form.sku_id.value),
        price_fen: priceFen,
        quantity: quantity,
        per_user_limit: limit,
        duration_seconds: minutes * 60,
      });
      flashSales = [sale].concat(flashSales.filter((s) => s.id !== sale.id));
      renderFlashSales(flashSales);
      say('秒杀已开始：' + yuan(sale.price_fen) + ' × ' + sale.quantity);
    } catch (e) { /* shown */ } finally { button.disabled = false; }
  });

  // --- coupons and draws -------------------------------------------------------------------

  root.querySelectorAll('[data-coupon]').forEach((button) => {
    button.addEventListener('click', async () => {
      try {
        const drop = await call('POST', '/coupons/drop', { template_id: Number(button.dataset.coupon) });
        say('已发券：' + drop.name + '，观众可在直播间领取');
      } catch (e) { /* shown */ }
    });
  });

  function renderDraw(draw) {
    const box = document.getElementById('draw-result');
    box.replaceChildren();
    if (!draw) return;
    const names = el('ul', { className: 'winners', testid: 'draw-winners' });
    (draw.winners || []).forEach((w) => names.appendChild(el('li', { text: typeof w === 'string' ? w : w.nickname })));
    box.appendChild(el('p', { className: 'draw-title' }, [
      el('strong', { text: '奖品：' + draw.prize }),
      el('span', { text: ' · 候选 ' + draw.candidates + ' 人 · 中奖 ' + (draw.winners || []).length + ' 人' }),
    ]));
    box.appendChild(names);
    const seed = el('p', { className: 'seed' });
    seed.appendChild(el('span', { text: '随机种子 ' }));
    seed.appendChild(el('code', { text: draw.seed || '' }));
    if (draw.verified !== undefined) seed.appendChild(el('span', { className: draw.verified ? 'ok' : 'bad', text: draw.verified ? ' ✓ 已复核' : ' ✗ 复核不一致' }));
    box.appendChild(seed);
  }

  root.querySelector('[data-testid=draw-form]').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const prize = form.prize.value.trim();
    const count = Number(form.winners_count.value || 1);
    if (!prize) { say('请填写奖品', 'error'); return; }
    if (!Number.isInteger(count) || count < 1 || count > 100) { say('中奖人数为 1 到 100', 'error'); return; }
    try {
      const draw = await call('POST', '/draws', { prize: prize, winners_count: count });
      renderDraw(draw);
      say('抽奖完成，共 ' + draw.winners.length + ' 位中奖');
    } catch (e) { /* shown */ }
  });

  // --- comments and moderation -------------------------------------------------------------

  const list = document.getElementById('comment-list');

  async function refreshCommentPeople() {
    const rows = await call('GET', '/comments?limit=200&include_deleted=true');
    rows.forEach((c) => {
      personByComment.set(c.id, c.person_id);
      const item = list.querySelector('[data-comment-id="' + c.id + '"]');
      if (item) item.dataset.person = String(c.person_id);
    });
    return rows;
  }

  async function personFor(commentId) {
    if (!personByComment.has(commentId)) await refreshCommentPeople();
    const person = personByComment.get(commentId);
    if (!person) { say('找不到这条评论的观众', 'error'); throw new Error('unknown viewer'); }
    return person;
  }

  function moderationButton(label, testid, handler) {
    const button = el('button', { className: 'btn tiny', text: label, testid: testid });
    button.type = 'button';
    button.addEventListener('click', async () => { try { await handler(); } catch (e) { /* shown */ } });
    return button;
  }

  function addComment(comment) {
    if (list.querySelector('[data-comment-id="' + comment.id + '"]')) return;
    if (comment.person_id) personByComment.set(comment.id, comment.person_id);
    const item = el('li', { className: 'comment', testid: 'comment' });
    item.dataset.commentId = String(comment.id);
    if (comment.person_id) item.dataset.person = String(comment.person_id);
    if (comment.banned) item.classList.add('banned');
    const text = el('div', { className: 'text' }, [
      el('span', { className: 'nick', text: comment.nickname }),
      el('span', { className: 'body', text: comment.text, testid: 'comment-text' }),
    ]);
    const when = el('time', { text: shanghaiTime(comment.at || comment.created_at) });
    const actions = el('div', { className: 'mod' }, [
      moderationButton('删除', 'comment-delete', async () => {
        await call('POST', '/comments/' + comment.id + '/delete');
        item.classList.add('deleted');
      }),
      moderationButton('禁言', 'comment-mute', async () => {
        const person = await personFor(comment.id);
        const viewer = await call('POST', '/viewers/' + person + '/mute', { minutes: 10 });
        markViewer(person, 'muted');
        say('已禁言 ' + viewer.nickname + ' 10 分钟');
      }),
      moderationButton('拉黑', 'comment-ban', async () => {
        if (!window.confirm('拉黑后该观众将被移出本场直播，确定？')) return;
        const person = await personFor(comment.id);
        const viewer = await call('POST', '/viewers/' + person + '/ban');
        markViewer(person, 'banned');
        say('已拉黑 ' + viewer.nickname);
      }),
    ]);
    item.appendChild(el('div', { className: 'line' }, [text, when]));
    item.appendChild(actions);
    list.appendChild(item);
    while (list.children.length > MAX_COMMENTS) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
  }

  function markViewer(person, className) {
    list.querySelectorAll('li.comment[data-person="' + person + '"]').forEach((item) => item.classList.add(className));
  }

  refreshCommentPeople()
    .then((rows) => rows.filter((c) => !c.deleted).forEach(addComment))
    .catch(() => {});

  const sseState = document.getElementById('sse-state');
  if (window.EventSource) {
    const events = new EventSource(config.events);
    const on = (name, handler) => events.addEventListener(name, (e) => {
      try { handler(JSON.parse(e.data)); } catch (err) { /* a malformed frame is skipped */ }
    });
    events.addEventListener('open', () => { sseState.textContent = '● 已连接'; sseState.className = 'ok'; });
    events.addEventListener('error', () => { sseState.textContent = '重连中…'; sseState.className = 'bad'; });
    on('comment', addComment);
    on('comment_deleted', (d) => {
      const item = list.querySelector('[data-comment-id="' + d.id + '"]');
      if (item) item.classList.add('deleted');
    });
    on('status', (d) => showStatus(d.status));
    on('pin', (d) => showPinned(d.sku_id));
    on('unpin', () => showPinned(null));
    on('draw', (d) => renderDraw(Object.assign({}, d, { winners: d.winners || [] })));
    on('viewer_banned', (d) => say('观众 ' + d.nickname + ' 已被移出直播间'));
  } else {
    sseState.textContent = '浏览器不支持实时评论';
  }

  // --- numbers -----------------------------------------------------------------------------

  const chartBox = document.getElementById('online-chart');
  const chart = window.echarts ? window.echarts.init(chartBox) : null;
  const points = [];
  function drawChart() {
    if (!chart) return;
    chart.setOption({
      title: { text: '在线人数（近 5 分钟）', textStyle: { fontSize: 13, fontWeight: 'normal', color: '#52606d' } },
      grid: { left: 40, right: 36, top: 36, bottom: 28 },
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'category', boundaryGap: false, data: points.map((p) => p[0]), axisLabel: { color: '#6b7785', hideOverlap: true } },
      yAxis: { type: 'value', minInterval: 1, axisLabel: { color: '#6b7785' } },
      series: [{ type: 'line', name: '在线', data: points.map((p) => p[1]), smooth: true, showSymbol: false,
        areaStyle: { color: 'rgba(7,163,90,0.12)' }, lineStyle: { color: '#07a35a', width: 2 }, itemStyle: { color: '#07a35a' } }],
    });
  }
  window.addEventListener('resize', () => chart && chart.resize());

  // Average watching time: — before anyone watched, seconds under a minute, then minutes
  // (and hours past sixty minutes).
  function watchTime(viewers, seconds) {
    if (!viewers) return '—';
    if (seconds < 60) return seconds + ' 秒';
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + ' 分 ' + (seconds % 60) + ' 秒';
    return Math.floor(minutes / 60) + ' 小时 ' + (minutes % 60) + ' 分';
  }

  function showStats(stats) {
    const set = (id, text) => { root.querySelector('[data-testid=' + id + ']').textContent = String(text); };
    set('stat-online', stats.online);
    set('stat-peak', stats.peak);
    set('stat-comments', stats.comments_last_minute);
    set('stat-cart', stats.add_to_cart);
    set('stat-carts', stats.carts_abandoned + ' · ' + stats.carts_recovered);
    set('stat-orders', stats.orders);
    set('stat-gmv', yuan(stats.gmv_fen));
    set('stat-conversion', (stats.conversion_bp / 100).toFixed(2) + '%');
    set('stat-dwell', watchTime(stats.viewers, stats.average_dwell_seconds));
    const steps = document.getElementById('funnel-steps');
    steps.replaceChildren();
    const top = Math.max(1, stats.funnel.length ? stats.funnel[0].persons : 1);
    stats.funnel.forEach((step) => {
      const bar = el('span', { className: 'bar' });
      bar.style.width = Math.max(4, Math.round((100 * step.persons) / top)) + '%';
      steps.appendChild(el('li', {}, [el('span', { className: 'step', text: step.label }), bar, el('b', { text: step.persons })]));
    });
    points.push([shanghaiTime(stats.at), stats.online]);
    while (points.length > CHART_POINTS) points.shift();
    drawChart();
  }

  async function pollStats() {
    try { showStats(await call('GET', '/stats')); } catch (e) { /* shown; retried */ }
  }

  showStatus(config.status);
  renderFlashSales(flashSales);
  renderDraw(config.last_draw);
  showStats(config.stats);
  setInterval(pollStats, STATS_EVERY_MS);
  setInterval(loadFlashSales, 10000);
})();
