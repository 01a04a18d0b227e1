// Group health: joins and leaves (and messages, when the page has them) per day, drawn with
// ECharts from the numbers the page embeds (#health-data); nothing is computed here.
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('health-data').textContent);
  const node = document.querySelector('[data-testid=health-chart]');
  if (!node || typeof echarts === 'undefined') return;
  const days = data.days || [];
  const hasMessages = days.some((d) => d.messages !== null && d.messages !== undefined);
  const series = [
    { name: '入群', type: 'bar', data: days.map((d) => d.joins) },
    { name: '退群', type: 'bar', data: days.map((d) => d.leaves) },
  ];
  if (hasMessages) {
    series.push({ name: '群消息', type: 'line', yAxisIndex: 1, data: days.map((d) => d.messages) });
  }
  const chart = echarts.init(node, null, { renderer: 'canvas' });
  chart.setOption({
    color: ['#07a35a', '#e35d6a', '#3b82c4'],
    tooltip: { trigger: 'axis' },
    legend: { data: series.map((s) => s.name) },
    grid: { left: 40, right: hasMessages ? 48 : 16, top: 36, bottom: 28 },
    xAxis: { type: 'category', data: days.map((d) => d.day.slice(5)) },
    yAxis: hasMessages
      ? [{ type: 'value', name: '人', minInterval: 1 }, { type: 'value', name: '条', minInterval: 1 }]
      : [{ type: 'value', name: '人', minInterval: 1 }],
    series: series,
  });
  window.addEventListener('resize', () => chart.resize());
})();
