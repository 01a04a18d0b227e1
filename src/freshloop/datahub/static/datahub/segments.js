// The segment list page: bars of the main computed tags (people per label).
(function () {
  'use strict';
  const config = JSON.parse(document.getElementById('segments-config').textContent);
  const charts = [];
  config.distributions.forEach((d) => {
    const card = document.querySelector('[data-distribution="' + d.column + '"] [data-body]');
    if (!card) return;
    const labels = Object.keys(d.counts);
    const chart = echarts.init(card);
    chart.setOption({
      color: ['#07a35a'],
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      grid: { left: 96, right: 40, top: 8, bottom: 20 },
      xAxis: { type: 'value', minInterval: 1 },
      yAxis: { type: 'category', inverse: true, data: labels },
      series: [{ type: 'bar', barMaxWidth: 16, data: labels.map((l) => d.counts[l]), label: { show: true, position: 'right' } }],
    });
    charts.push(chart);
  });
  window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
})();
