// The operations dashboard: one request per chart to /console/data/charts/<name> with the
// filter in the query string; the same address with ?format=csv is each chart's download.
// Figures come from the server already computed (money in fen, rates 0..1); this file only
// draws them. Text from data (product names, session titles) goes in through textContent or
// ECharts' own text rendering, never innerHTML.
(function () {
  'use strict';

  const config = JSON.parse(document.getElementById('dashboard-config').textContent);
  const form = document.querySelector('[data-testid=dashboard-filter]');
  const message = document.querySelector('[data-testid=filter-message]');
  const GREEN = '#07a35a';
  const PALETTE = [GREEN, '#3b82c4', '#f0a020', '#8e6bd1', '#e35d6a', '#2bb5a8', '#7d8b99', '#c9a227'];
  const instances = new Map();
  const LIVE_ROWS_SHOWN = 12;

  function yuan(fen) {
    if (fen === null || fen === undefined) return '—';
    const value = fen / 100;
    return '¥' + value.toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function yuanShort(fen) {
    const value = fen / 100;
    if (Math.abs(value) >= 10000) return '¥' + (value / 10000).toFixed(1) + '万';
    return '¥' + value.toFixed(0);
  }
  function percent(rate) {
    return rate === null || rate === undefined ? '—' : (rate * 100).toFixed(1) + '%';
  }
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function table(headers, rows, numeric) {
    const t = el('table', null, 'dh-table');
    const head = t.createTHead().insertRow();
    headers.forEach((h, i) => { const th = el('th', h); if (numeric && numeric[i]) th.className = 'num'; head.appendChild(th); });
    const body = t.createTBody();
    rows.forEach((cells) => {
      const tr = body.insertRow();
      cells.forEach((c, i) => { const td = el('td', c); if (numeric && numeric[i]) td.className = 'num'; tr.appendChild(td); });
    });
    return t;
  }

  function chartFor(card) {
    const body = card.querySelector('[data-body]');
    let chart = instances.get(card.dataset.chart);
    if (!chart) {
      chart = echarts.init(body, null, { renderer: 'canvas' });
      instances.set(card.dataset.chart, chart);
    }
    return chart;
  }

  const draw = {
    funnel(card, data) {
      chartFor(card).setOption({
        color: [GREEN, '#3b82c4', '#f0a020'],
        tooltip: { trigger: 'item', formatter: (p) => p.name + '：' + p.value + ' 人' },
        series: [{
          type: 'funnel', left: '10%', width: '80%', sort: 'none', minSize: '25%', gap: 4,
          label: { show: true, position: 'inside', formatter: (p) => p.name + ' ' + p.value + ' 人' },
          data: data.steps.map((s) => ({ name: s.label, value: s.people })),
        }],
      }, true);
      return table(['环节', '人数', '较上一环节'], data.steps.map((s) => [s.label, s.people, percent(s.rate_from_previous)]), [false, true, true]);
    },
    cac(card, data) {
      const channels = data.rows.filter((r) => !r.campaign || config.filter.live_session);
      chartFor(card).setOption({
        color: [GREEN, '#3b82c4'],
        tooltip: { trigger: 'axis' },
        legend: { data: ['获客成本(元)', '新客数'] },
        grid: { left: 56, right: 48, top: 36, bottom: 30 },
        xAxis: { type: 'category', data: channels.map((r) => r.campaign ? r.campaign : r.channel_label) },
        yAxis: [{ type: 'value', name: '元' }, { type: 'value', name: '人' }],
        series: [
          { name: '获客成本(元)', type: 'bar', barMaxWidth: 36, data: channels.map((r) => r.cac_fen === null ? null : r.cac_fen / 100) },
          { name: '新客数', type: 'line', yAxisIndex: 1, data: channels.map((r) => r.new_customers) },
        ],
      }, true);
      const rows = data.rows.map((r) => [r.channel_label, r.campaign || '（渠道合计）', yuan(r.spend_fen), r.new_customers, yuan(r.cac_fen)]);
      rows.push(['合计', '', yuan(data.total.spend_fen), data.total.new_customers, yuan(data.total.cac_fen)]);
      return table(['渠道', '活动', '花费', '新客数', '获客成本'], rows, [false, false, true, true, true]);
    },
    repurchase(card, data) {
      chartFor(card).setOption({
        color: [GREEN],
        tooltip: { trigger: 'axis', formatter: (ps) => ps.map((p) => p.name + '：' + p.value + '%').join('<br>') },
        grid: { left: 48, right: 16, top: 24, bottom: 30 },
        xAxis: { type: 'category', data: data.windows.map((w) => w.label) },
        yAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } },
        series: [{
          type: 'bar', barMaxWidth: 48,
          label: { show: true, position: 'top', formatter: (p) => p.value === null ? '窗口未满' : p.value + '%' },
          data: data.windows.map((w) => w.rate === null ? null : Math.round(w.rate * 1000) / 10),
        }],
      }, true);
      const rows = table(['窗口', '新客数', '已满窗口', '复购人数', '复购率'], data.windows.map((w) => [w.label, data.cohort, w.eligible, w.repurchased, percent(w.rate)]), [false, true, true, true, true]);
      if (data.cohort === 0 || data.windows.some((w) => w.eligible > 0)) return rows;
      // A recent period: nobody's first order is 30 days old yet, so no rate can be told.
      const box = el('div');
      box.appendChild(el('p', '本期 ' + data.cohort + ' 位新客的首单都不满 30 天，复购率要等窗口期满才能计算；选更早的时段可看已满窗口的新客。', 'hint'));
      box.appendChild(rows);
      return box;
    },
    gmv(card, data) {
      chartFor(card).setOption({
        color: [GREEN, '#3b82c4', '#e35d6a'],
        tooltip: { trigger: 'axis' },
        legend: { data: ['GMV(元)', '退款(元)', '支付订单'] },
        grid: { left: 64, right: 48, top: 36, bottom: 30 },
        xAxis: { type: 'category', data: data.points.map((p) => p.label) },
        yAxis: [{ type: 'value', name: '元', axisLabel: { formatter: (v) => yuanShort(v * 100) } }, { type: 'value', name: '单' }],
        series: [
          { name: 'GMV(元)', type: 'bar', barMaxWidth: 24, data: data.points.map((p) => p.gmv_fen / 100) },
          { name: '退款(元)', type: 'bar', barMaxWidth: 24, data: data.points.map((p) => p.refunded_fen / 100) },
          { name: '支付订单', type: 'line', yAxisIndex: 1, smooth: true, data: data.points.map((p) => p.orders) },
        ],
      }, true);
      const t = data.total;
      const caption = el('p', '合计：支付 ' + yuan(t.paid_fen) + '，退款 ' + yuan(t.refunded_fen) + '，GMV ' + yuan(t.gmv_fen) + '，支付订单 ' + t.orders + ' 单', 'hint');
      return caption;
    },
    retention(card, data) {
      const offsets = [];
      for (let k = 1; k <= data.max_offset; k += 1) offsets.push('+' + k + '月');
      const cells = [];
      data.cohorts.forEach((row, y) => row.cells.forEach((cell, x) => {
        if (cell) cells.push([x, y, Math.round(cell.rate === null ? 0 : cell.rate * 1000) / 10, cell.people]);
      }));
      chartFor(card).setOption({
        tooltip: { formatter: (p) => data.cohorts[p.value[1]].month + ' 首单 ' + offsets[p.value[0]] + '：' + p.value[2] + '%（' + p.value[3] + ' 人）' },
        grid: { left: 110, right: 24, top: 10, bottom: 60 },
        xAxis: { type: 'category', data: offsets, splitArea: { show: true } },
        yAxis: { type: 'category', inverse: true, data: data.cohorts.map((c) => c.month + '（' + c.size + '人）') },
        visualMap: { min: 0, max: 60, calculable: true, orient: 'horizontal', left: 'center', bottom: 0, inRange: { color: ['#f2fbf6', '#7fd1a7', GREEN, '#04653a'] }, text: ['高', '低'] },
        series: [{ type: 'heatmap', data: cells, label: { show: true, formatter: (p) => p.value[2] + '%' } }],
      }, true);
      return null;
    },
    channels(card, data) {
      chartFor(card).setOption({
        color: PALETTE,
        tooltip: { trigger: 'item', formatter: (p) => p.name + '：' + yuan(p.value * 100) + '（' + p.percent + '%）' },
        legend: { bottom: 0 },
        series: [{
          type: 'pie', radius: ['40%', '68%'], center: ['50%', '45%'],
          label: { formatter: '{b} {d}%' },
          data: data.rows.filter((r) => r.gmv_fen > 0).map((r) => ({ name: r.channel_label, value: r.gmv_fen / 100 })),
        }],
      }, true);
      return table(['渠道', 'GMV', '订单', '占比'], data.rows.map((r) => [r.channel_label, yuan(r.gmv_fen), r.orders, percent(r.gmv_share)]), [false, true, true, true]);
    },
    products(card, data) {
      const rows = data.rows.slice().reverse();
      chartFor(card).setOption({
        color: [GREEN],
        tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
        grid: { left: 150, right: 60, top: 10, bottom: 24 },
        xAxis: { type: 'value', axisLabel: { formatter: (v) => yuanShort(v * 100) } },
        yAxis: { type: 'category', data: rows.map((r) => r.product_name), axisLabel: { width: 140, overflow: 'truncate' } },
        series: [{ type: 'bar', barMaxWidth: 18, data: rows.map((r) => r.gmv_fen / 100), label: { show: true, position: 'right', formatter: (p) => yuanShort(p.value * 100) } }],
      }, true);
      return null;
    },
    'live-sessions'(card, data) {
      const shown = data.rows.slice(0, LIVE_ROWS_SHOWN);
      const wrap = el('div');
      wrap.appendChild(table(
        ['场次', '观看人数', '平均观看', '评论', '商品点击', '加购', '支付订单', 'GMV', '转化率'],
        shown.map((r) => [r.title || r.live_session, r.viewers, r.average_dwell_seconds + ' 秒', r.comments, r.product_clicks, r.add_to_cart, r.orders, yuan(r.gmv_fen), percent(r.conversion)]),
        [false, true, true, true, true, true, true, true, true],
      ));
      if (data.rows.length > shown.length) {
        wrap.appendChild(el('p', '共 ' + data.rows.length + ' 场，这里显示最近 ' + shown.length + ' 场；全部场次请下载 CSV，或在上方选择一个直播场次。', 'hint'));
      }
      return wrap;
    },
  };

  function kpis(name, data) {
    const set = (key, text) => { const node = document.querySelector('[data-kpi=' + key + ']'); if (node) node.textContent = text; };
    if (name === 'gmv') { set('gmv', yuan(data.total.gmv_fen)); set('orders', data.total.orders + ' 单'); }
    if (name === 'cac') { set('new_customers', data.total.new_customers + ' 人'); set('cac', yuan(data.total.cac_fen)); }
    if (name === 'funnel') set('conversion', percent(data.overall_rate));
  }

  function currentFilter() {
    const data = new FormData(form);
    const filter = {};
    ['start', 'end', 'channel', 'live_session'].forEach((key) => { const v = (data.get(key) || '').trim(); if (v) filter[key] = v; });
    return filter;
  }

  async function load(card, query) {
    const name = card.dataset.chart;
    const state = card.querySelector('[data-state]');
    const tableSlot = card.querySelector('[data-table]');
    card.querySelector('[data-csv]').href = config.charts_url + name + '?' + query + (query ? '&' : '') + 'format=csv';
    state.textContent = '加载中…';
    state.className = 'state';
    let body = null;
    let response = null;
    try {
      response = await fetch(config.charts_url + name + '?' + query, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response || !response.ok || !body) {
      state.textContent = (body && body.message) || '图表加载失败，请稍后重试';
      state.className = 'state error';
      return;
    }
    const data = body.data;
    kpis(name, data);
    tableSlot.replaceChildren();
    const extra = draw[name](card, data);
    if (extra) tableSlot.appendChild(extra);
    state.textContent = data.empty ? '该时间段暂无数据' : '';
    card.dataset.loaded = 'true';
  }

  function apply() {
    const filter = currentFilter();
    if (filter.start && filter.end && filter.start > filter.end) {
      message.textContent = '开始日期不能晚于结束日期';
      message.hidden = false;
      return;
    }
    message.hidden = true;
    config.filter = Object.assign({ channel: null, live_session: null }, filter);
    const query = new URLSearchParams(filter).toString();
    history.replaceState(null, '', location.pathname + (query ? '?' + query : ''));
    document.querySelectorAll('[data-chart]').forEach((card) => load(card, query));
  }

  function isoDay(date) {
    const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 10);
  }

  function markPeriod() {
    const start = form.elements.start.value;
    const end = form.elements.end.value;
    let matched = 'custom';
    if (end === config.today) {
      [7, 30, 90, 365].forEach((days) => {
        const from = new Date(config.today + 'T00:00:00');
        from.setDate(from.getDate() - days + 1);
        if (isoDay(from) === start) matched = String(days);
      });
    }
    form.querySelectorAll('[data-days]').forEach((b) => b.classList.toggle('active', b.dataset.days === matched));
  }

  form.querySelectorAll('[data-days]').forEach((button) => button.addEventListener('click', () => {
    if (button.dataset.days === 'custom') {
      form.elements.start.focus();
      form.querySelectorAll('[data-days]').forEach((b) => b.classList.toggle('active', b === button));
      return;
    }
    const from = new Date(config.today + 'T00:00:00');
    from.setDate(from.getDate() - Number(button.dataset.days) + 1);
    form.elements.start.value = isoDay(from);
    form.elements.end.value = config.today;
    markPeriod();
    apply();
  }));
  form.querySelector('[data-action=apply]').addEventListener('click', () => { markPeriod(); apply(); });
  form.elements.live_session.addEventListener('change', () => {
    if (form.elements.live_session.value) form.elements.channel.value = 'live';
  });
  window.addEventListener('resize', () => instances.forEach((chart) => chart.resize()));

  markPeriod();
  apply();
})();
