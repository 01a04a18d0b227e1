// Fulfillment overview: parcels delivered per week with the on-time rate, and logistics cost
// per order by warehouse, and the cold chain's excursion rate per week, drawn with ECharts from the numbers the page embeds.
(function () {
  'use strict';
  if (typeof echarts === 'undefined') return;
  const data = JSON.parse(document.getElementById('fulfillment-data').textContent);
  const onTimeNode = document.querySelector('[data-testid=on-time-chart]');
  const weeks = data.weeks || [];
  const onTime = echarts.init(onTimeNode, null, { renderer: 'canvas' });
  onTime.setOption({
    color: ['#9bd3b4', '#07a35a'],
    tooltip: { trigger: 'axis' },
    legend: { data: ['签收包裹', '准时率'] },
    grid: { left: 44, right: 48, top: 36, bottom: 28 },
    xAxis: { type: 'category', data: weeks.map((w) => w.week.slice(5) + ' 周') },
    yAxis: [
      { type: 'value', name: '包裹', minInterval: 1 },
      { type: 'value', name: '准时率', min: 0, max: 100, axisLabel: { formatter: '{value}%' } },
    ],
    series: [
      { name: '签收包裹', type: 'bar', data: weeks.map((w) => w.delivered) },
      { name: '准时率', type: 'line', yAxisIndex: 1, connectNulls: true,
        data: weeks.map((w) => (w.rate === null ? null : Math.round(w.rate * 1000) / 10)) },
    ],
  });
  const costNode = document.querySelector('[data-testid=cost-chart]');
  const rows = data.warehouses || [];
  const cost = echarts.init(costNode, null, { renderer: 'canvas' });
  cost.setOption({
    color: ['#3b82c4'],
    tooltip: { trigger: 'axis', valueFormatter: (v) => '¥' + Number(v).toFixed(2) },
    grid: { left: 56, right: 16, top: 24, bottom: 28 },
    xAxis: { type: 'category', data: rows.map((r) => r.warehouse) },
    yAxis: { type: 'value', name: '元/单' },
    series: [{ type: 'bar', barMaxWidth: 48, data: rows.map((r) => r.cost_per_order_fen / 100) }],
  });
  const excursionNode = document.querySelector('[data-testid=excursion-chart]');
  const cold = data.excursions || [];
  const excursion = echarts.init(excursionNode, null, { renderer: 'canvas' });
  excursion.setOption({
    color: ['#a9c8e8', '#c0392b'],
    tooltip: { trigger: 'axis' },
    legend: { data: ['冷链签收包裹', '超温率'] },
    grid: { left: 44, right: 48, top: 36, bottom: 28 },
    xAxis: { type: 'category', data: cold.map((w) => w.week.slice(5) + ' 周') },
    yAxis: [
      { type: 'value', name: '包裹', minInterval: 1 },
      { type: 'value', name: '超温率', min: 0, axisLabel: { formatter: '{value}%' } },
    ],
    series: [
      { name: '冷链签收包裹', type: 'bar', data: cold.map((w) => w.cold) },
      { name: '超温率', type: 'line', yAxisIndex: 1, connectNulls: true,
        data: cold.map((w) => (w.rate === null ? null : Math.round(w.rate * 1000) / 10)) },
    ],
  });
  window.addEventListener('resize', () => { onTime.resize(); cost.resize(); excursion.resize(); });
})();
