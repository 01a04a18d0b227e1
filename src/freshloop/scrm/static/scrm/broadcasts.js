// Mass messages (企业群发): the composer and the results chart.
// The composer keeps the form in `form`, asks the API for the preview count whenever the
// audience or the time changes, and saves through /api/v1/scrm/broadcasts (then /schedule to
// send). The server's 422 names each wrong field (`text`, `miniprogram.appid`…); `errors`
// holds those messages, shown under the input. Values reach the DOM through x-text / x-model.
(function () {
  'use strict';

  // The console's API helper (web/console.js), with this page's base path in front.
  function api(base, method, path, body) { return window.consoleApi(method, base + path, body); }

  // "2026-12-05T10:00" typed in the browser is Beijing time: send it with its zone.
  function zoned(local) {
    if (!local) return null;
    return (local.length === 16 ? local + ':00' : local) + '+08:00';
  }

  function localOf(iso) {
    if (!iso) return '';
    const shanghai = new Date(new Date(iso).getTime() + 8 * 3600 * 1000);
    return shanghai.toISOString().slice(0, 16);
  }

  window.broadcastComposer = function () {
    const config = JSON.parse(document.getElementById('broadcast-config').textContent);
    const saved = config.broadcast;
    const mini = (saved && saved.miniprogram) || {};
    return {
      config: config,
      broadcast: saved,
      form: {
        title: saved ? saved.title : '',
        kind: saved ? saved.kind : 'text',
        text: saved ? saved.text : '',
        image_url: saved ? saved.image_url : '',
        product_id: saved && saved.product_id ? String(saved.product_id) : '',
        miniprogram: { title: mini.title || '', appid: mini.appid || '', page: mini.page || '', pic_media_id: mini.pic_media_id || '' },
        segment_id: saved && saved.segment_id ? String(saved.segment_id) : '',
        when: saved && saved.status === 'scheduled' ? 'later' : 'now',
        local_time: saved ? localOf(saved.scheduled_at) : '',
      },
      miniFields: [
        { key: 'title', label: '卡片标题', hint: '如 鲜环优选小程序' },
        { key: 'appid', label: '小程序 AppID', hint: 'wx 开头，需已关联企业微信' },
        { key: 'page', label: '页面路径', hint: '如 pages/index/index.html' },
        { key: 'pic_media_id', label: '封面图 media_id', hint: '上传临时素材得到' },
      ],
      errors: {},
      estimate: null,
      busy: false,
      notice: '',
      noticeKind: '',
      timer: null,

      init() { this.preview(); },

      bytes() { return new TextEncoder().encode(this.form.text || '').length; },

      time(iso) { return iso ? new Date(iso).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false }) : ''; },

      clearError(field) { if (field && this.errors[field]) { const next = Object.assign({}, this.errors); delete next[field]; this.errors = next; } },

      scheduledAt() { return this.form.when === 'later' ? zoned(this.form.local_time) : null; },

      body() {
        const body = {
          title: this.form.title,
          kind: this.form.kind,
          text: this.form.text,
          image_url: this.form.kind === 'image' ? this.form.image_url : '',
          product_id: this.form.kind === 'product' && this.form.product_id ? Number(this.form.product_id) : null,
          miniprogram: this.form.kind === 'miniprogram' ? this.form.miniprogram : null,
          segment_id: this.form.segment_id ? Number(this.form.segment_id) : null,
          scheduled_at: this.scheduledAt(),
        };
        return body;
      },

      preview() {
        clearTimeout(this.timer);
        this.timer = setTimeout(async () => {
          if (this.form.when === 'later' && !this.form.local_time) return;
          try {
            this.estimate = await api(config.api, 'POST', '/broadcasts/preview', { segment_id: this.form.segment_id ? Number(this.form.segment_id) : null, scheduled_at: this.scheduledAt() });
          } catch (error) { this.show(error); }
        }, 150);
      },

      show(error) {
        const problems = (error.data && Array.isArray(error.data.detail)) ? error.data.detail : [];
        const errors = {};
        problems.forEach((problem) => { if (problem.field) errors[problem.field] = problem.message; });
        this.errors = errors;
        this.notice = error.message;
        this.noticeKind = 'error';
        const first = problems.length ? document.querySelector('[data-field="' + problems[0].field + '"]') : null;
        if (first) first.focus();
      },

      async save(send) {
        this.busy = true; this.notice = ''; this.errors = {};
        try {
          let broadcast = this.broadcast;
          broadcast = broadcast
            ? await api(config.api, 'PUT', '/broadcasts/' + broadcast.id, this.body())
            : await api(config.api, 'POST', '/broadcasts', this.body());
          this.broadcast = broadcast;
          if (send && broadcast.status === 'draft') {
            broadcast = await api(config.api, 'POST', '/broadcasts/' + broadcast.id + '/schedule', { send_now: this.form.when === 'now' });
          }
          window.location.href = '/console/scrm/broadcasts/' + broadcast.id;
        } catch (error) {
          this.show(error);
          this.busy = false;
        }
      },
    };
  };

  // The results page: cancel, and the funnel from the audience to the orders.
  window.broadcastResults = function () {
    const config = JSON.parse(document.getElementById('broadcast-results').textContent);
    return {
      broadcast: config,
      busy: false,
      notice: '',
      init() { this.$nextTick(() => this.draw()); },
      async cancel() {
        this.busy = true;
        try {
          this.broadcast = await api('/api/v1/scrm', 'POST', '/broadcasts/' + this.broadcast.id + '/cancel');
          window.location.reload();
        } catch (error) { this.notice = error.message; this.busy = false; }
      },
      draw() {
        const box = document.querySelector('[data-testid=broadcast-chart]');
        const results = this.broadcast.results;
        if (!box || !window.echarts || !results) return;
        if (!box.clientWidth) { setTimeout(() => this.draw(), 50); return; }
        const chart = window.echarts.init(box);
        box.dataset.loaded = 'false';
        chart.on('finished', () => { box.dataset.loaded = 'true'; });
        const steps = [
          ['人群', results.audience],
          ['企业微信好友', results.recipients],
          ['已送达', results.confirmed],
          ['点击链接', results.clicks],
          ['下单', results.orders],
        ];
        chart.setOption({
          animation: false,
          grid: { left: 90, right: 40, top: 10, bottom: 20 },
          tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
          xAxis: { type: 'value', minInterval: 1 },
          yAxis: { type: 'category', inverse: true, data: steps.map((s) => s[0]) },
          series: [{ type: 'bar', data: steps.map((s) => s[1]), itemStyle: { color: '#07a35a' }, label: { show: true, position: 'right' } }],
        });
      },
    };
  };
})();
