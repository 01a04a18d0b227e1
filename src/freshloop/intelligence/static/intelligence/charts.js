// Draws every chart of an intelligence page: the server renders the ECharts options into one
// JSON block (id "in-charts"), keyed by the name in each chart element's data-chart.
(function () {
  function draw() {
    var block = document.getElementById("in-charts");
    if (!block || !window.echarts) return;
    var options = JSON.parse(block.textContent);
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      var option = options[element.dataset.chart];
      if (!option) return;
      var chart = window.echarts.init(element);
      chart.setOption(option);
      window.addEventListener("resize", function () { chart.resize(); });
      element.dataset.drawn = "true";
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
