// A cold parcel's temperature line with the safe band shaded and excursions marked, drawn with
// ECharts. Shared by the shopper's order page and the console's parcel page: each element
// with data-chart="<parcel no>" gets the chart of that key in the JSON of #parcel-charts
// ({points: [[ms, °C]…], low, high, excursions: [[start ms, end ms, minutes, peak]…]}).
(function () {
  'use strict';
  function draw() {
    var source = document.getElementById('parcel-charts');
    if (!source || !window.echarts) return;
    var charts = JSON.parse(source.textContent);
    var two = function (n) { return (n < 10 ? '0' : '') + n; };
    var label = function (ms) { var d = new Date(ms + 8 * 3600 * 1000); return (d.getUTCMonth() + 1) + '/' + d.getUTCDate() + ' ' + two(d.getUTCHours()) + ':' + two(d.getUTCMinutes()); };
    document.querySelectorAll('[data-chart]').forEach(function (node) {
      var data = charts[node.dataset.chart];
      if (!data) return;
      var values = data.points.map(function (p) { return p[1]; });
      var low = data.low === null ? Math.min.apply(null, values.concat([data.high])) - 4 : data.low;
      var areas = [[{ yAxis: low, itemStyle: { color: 'rgba(7,193,96,0.12)' } }, { yAxis: data.high }]];
      var bad = data.excursions.map(function (e) { return [{ xAxis: e[0], itemStyle: { color: 'rgba(250,81,81,0.16)' }, name: '超温 ' + e[2] + ' 分钟' }, { xAxis: e[1] }]; });
      var chart = echarts.init(node, null, { renderer: 'canvas' });
      chart.setOption({
        animation: false,
        grid: { left: 36, right: 12, top: 16, bottom: 28 },
        tooltip: { trigger: 'axis', formatter: function (items) { var p = items[0]; return label(p.value[0]) + '<br>' + p.value[1] + ' °C'; } },
        xAxis: { type: 'time', axisLabel: { formatter: function (ms) { return label(ms).split(' ')[1]; }, fontSize: 10, hideOverlap: true } },
        yAxis: { type: 'value', scale: true, axisLabel: { formatter: '{value}°', fontSize: 10 }, splitLine: { lineStyle: { color: '#f0f0f0' } } },
        series: [
          { type: 'line', name: '温度', data: data.points, showSymbol: false, lineStyle: { width: 2, color: '#1677ff' },
            markArea: { silent: true, data: areas }, markLine: { silent: true, symbol: 'none', label: { show: false }, lineStyle: { color: '#07c160', type: 'dashed' }, data: (data.low === null ? [] : [{ yAxis: data.low }]).concat([{ yAxis: data.high }]) } },
          { type: 'line', name: '超温', data: [], markArea: { silent: true, label: { show: true, position: 'insideTop', color: '#fa5151', fontSize: 10 }, data: bad } },
        ],
      });
      window.addEventListener('resize', function () { chart.resize(); });
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', draw);
  else draw();
})();
