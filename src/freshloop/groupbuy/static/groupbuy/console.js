// Group-buying console charts, drawn with ECharts from the numbers the page embeds
// (#groupbuy-data): net GMV by leader and by pickup point, groups formed vs failed per day.
(function () {
  'use strict';
  if (typeof echarts === 'undefined') return;
  const source = document.getElementById('groupbuy-data');
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const charts = [];
  const yuan = (fen) => Math.round(fen) / 100;

  function draw(testid, option) {
    const node = document.querySelector('[data-testid=' + testid + ']');
    if (!node) return;
    const chart = echarts.init(node, null, { renderer: 'canvas' });
    chart.setOption(option);
    charts.push(chart);
  }

  function gmvBars(rows, label) {
    const shown = rows.slice().reverse(); // biggest on top of a horizontal bar chart
    return {
      color: ['#07a35a'],
      tooltip: { trigger: 'axis', valueFormatter: (v) => '¥' + Number(v).toFixed(2) },
      grid: { left: 8, right: 24, top: 12, bottom: 24, containLabel: true },
      xAxis: { type: 'value', name: '元' },
      yAxis: { type: 'category', data: shown.map(label) },
      series: [{ type: 'bar', barMaxWidth: 22, data: shown.map((r) => yuan(r.gmv_fen)) }],
    };
  }

  if (data.leaders) draw('leader-gmv-chart', gmvBars(data.leaders, (r) => r.name));
  if (data.points) draw('point-gmv-chart', gmvBars(data.points, (r) => r.pickup_name));
  if (data.groups) {
    const days = data.groups;
    draw('groups-chart', {
      color: ['#07a35a', '#c0392b'],
      tooltip: { trigger: 'axis' },
      legend: { data: ['成团', '失败'] },
      grid: { left: 40, right: 16, top: 36, bottom: 28 },
      xAxis: { type: 'category', data: days.map((d) => d.day.slice(5)) },
      yAxis: { type: 'value', name: '团', minInterval: 1 },
      series: [
        { name: '成团', type: 'bar', stack: 'groups', data: days.map((d) => d.succeeded) },
        { name: '失败', type: 'bar', stack: 'groups', data: days.map((d) => d.failed) },
      ],
    });
  }
  window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
})();
