// The journey editor: the steps live in `steps` (one object per card, with a stable `key` for
// Alpine's x-for and the step's stats from the server) and go to the API as the JSON that
// `scrm.journeys.steps_check` reads. The server's 422 names each wrong field as
// `steps.N.field`; `errors` holds those messages and each card shows its own under the input
// (the console's counterpart of the H5 `showFieldErrors`). Every value from the page reaches
// the DOM through Alpine's x-text / x-model, never as HTML.
(function () {
  'use strict';

  const ICONS = { wait: '等', condition: '判', message: '信', coupon: '券', task: '任', tag: '签' };
  const SHORT = { wait: '等待', condition: '条件', message: '消息', coupon: '发券', task: '任务', tag: '标签' };
  let nextKey = 1;
  // The ECharts instance stays out of Alpine's reactive state: a proxied instance breaks ECharts.
  let chart = null;


  // A stored step as a card: waits and task deadlines are shown in hours when they are whole hours.
  function toCard(step, stats) {
    const card = Object.assign({ key: nextKey++, stats: stats || null }, step);
    if (step.type === 'wait') {
      const hours = step.minutes % 60 === 0;
      card.amount = hours ? step.minutes / 60 : step.minutes;
      card.unit = hours ? 'hours' : 'minutes';
    }
    if (step.type === 'task') {
      const hours = step.due_minutes % 60 === 0;
      card.due_amount = hours ? step.due_minutes / 60 : step.due_minutes;
      card.due_unit = hours ? 'hours' : 'minutes';
      card.assignee = step.assignee || '';
    }
    return card;
  }

  function minutes(amount, unit) {
    if (amount === '' || amount === null || amount === undefined) return null;
    return unit === 'hours' ? Math.round(Number(amount) * 60) : Number(amount);
  }

  // A card as the API takes it.
  function toStep(card) {
    switch (card.type) {
      case 'wait': return Object.assign({ type: 'wait', minutes: minutes(card.amount, card.unit) }, card.at_best_hour ? { at_best_hour: true } : {});
      case 'condition': return { type: 'condition', check: card.check };
      case 'message': return { type: 'message', text: card.text || '', product_cards: !!card.product_cards, invite_url: card.invite_url || '', invite_title: card.invite_title || '' };
      case 'coupon': return { type: 'coupon', template_id: card.template_id ? Number(card.template_id) : null };
      case 'task': return { type: 'task', title: card.title || '', due_minutes: minutes(card.due_amount, card.due_unit), assignee: card.assignee || '' };
      default: return { type: 'tag', tag: card.tag || '' };
    }
  }

  function fresh(type, config) {
    switch (type) {
      case 'wait': return toCard({ type: 'wait', minutes: 120 });
      case 'condition': return toCard({ type: 'condition', check: 'unpaid_since_entry' });
      case 'message': return toCard({ type: 'message', text: '', product_cards: false });
      case 'coupon': return toCard({ type: 'coupon', template_id: config.templates.length ? config.templates[0].id : null });
      case 'task': return toCard({ type: 'task', title: '', due_minutes: 60, assignee: '' });
      default: return toCard({ type: 'tag', tag: '' });
    }
  }

  window.journeyEditor = function () {
    const config = JSON.parse(document.getElementById('editor-config').textContent);
    const typeLabels = Object.fromEntries(config.step_types.map((t) => [t.value, t.label]));
    return {
      config: config,
      journey: config.journey,
      name: config.journey ? config.journey.name : '',
      trigger: config.journey ? config.journey.trigger : config.triggers[0].value,
      steps: [],
      errors: {},
      notice: '',
      noticeKind: 'ok',
      busy: false,
      dirty: false,
      dragging: null,
      dropTarget: null,
      oneId: '',
      testRun: null,
      // The trigger's settings while creating (进入人群: the segment; 优惠券即将过期 / 生日: days).
      segmentId: '',
      days: config.trigger_days[config.journey ? config.journey.trigger : config.triggers[0].value],
      tab: 'steps',
      people: { items: [], total: 0, page: 1, page_size: 20, status: '', loaded: false },
      // 群活码 a message may invite to (community's API; none when community is not set up).
      joinCodes: [],

      init() {
        this.load(this.journey);
        if (!this.journey) this.steps = [fresh('message', config)];
        this.loadJoinCodes();
        window.addEventListener('beforeunload', (event) => { if (this.dirty) event.preventDefault(); });
      },

      load(journey) {
        this.journey = journey;
        if (!journey) return;
        this.name = journey.name;
        const stats = journey.stats.steps;
        this.steps = journey.steps.map((step, index) => toCard(step, stats[index]));
        this.dirty = false;
        // A journey created on this page keeps its address and heading from now on.
        const heading = document.querySelector('.topbar h1');
        if (heading) heading.textContent = '客户旅程 · ' + journey.name;
        document.title = journey.name + ' · 客户旅程 · FreshLoop 鲜环';
        // After Alpine has shown the chart's box (x-show): ECharts cannot size a hidden one.
        setTimeout(() => this.drawChart(), 0);
      },

      icon(type) { return ICONS[type]; },
      typeLabel(type) { return typeLabels[type]; },
      err(index, field) { return this.errors['steps.' + index + '.' + field] || ''; },
      changed() { this.dirty = true; },
      clearError(field) { if (this.errors[field]) { const next = Object.assign({}, this.errors); delete next[field]; this.errors = next; } },

      say(message, kind) { this.notice = message; this.noticeKind = kind || 'ok'; },

      triggerChanged() {
        const days = config.trigger_days[this.trigger];
        if (days !== undefined) this.days = days;
        this.clearError('trigger_config.days');
        this.clearError('trigger_config.segment_id');
      },
      triggerHint() {
        switch (this.trigger) {
          case 'segment_joined': return '人群每小时（及保存时）重新计算一次；新进入这个人群的客户进入旅程，每次计算每人只进入一次。消息可用 {segment_name}。';
          case 'coupon_expiring': return '每小时检查：未使用、将在设定天数内过期的优惠券，持券人进入旅程，每张券只进入一次。消息可用 {coupon_name}、{coupon_expires}。';
          case 'birthday': return '每天 9:00 检查：生日在设定天数之后的客户进入旅程（0 = 生日当天），每年一次。生日取自客户画像的生日属性。';
          default: return '';
        }
      },
      triggerConfig() {
        if (this.trigger === 'segment_joined') return { segment_id: this.segmentId === '' ? null : Number(this.segmentId) };
        if (config.trigger_days[this.trigger] !== undefined) return { days: this.days === '' ? null : Number(this.days) };
        return null;
      },
      placeholders() { return config.placeholders[this.journey ? this.journey.trigger : this.trigger] || []; },

      add(type) {
        if (this.steps.length >= config.max_steps) { this.say('一个旅程最多 ' + config.max_steps + ' 个步骤', 'error'); return; }
        this.steps.push(fresh(type, config));
        this.errors = {};
        this.dirty = true;
        this.$nextTick(() => {
          const cards = this.$root.querySelectorAll('[data-testid=step-card]');
          const last = cards[cards.length - 1];
          const input = last && last.querySelector('input, textarea, select');
          if (input) input.focus();
        });
      },

      remove(index) {
        this.steps.splice(index, 1);
        this.errors = {};
        this.dirty = true;
      },

      // Reordering clears the field errors: they name positions that no longer hold.
      moveTo(from, to) {
        if (from === to || to < 0 || to >= this.steps.length) return;
        const [card] = this.steps.splice(from, 1);
        this.steps.splice(to, 0, card);
        this.errors = {};
        this.dirty = true;
      },

      move(index, delta, event) {
        const to = index + delta;
        this.moveTo(index, to);
        // Keep the keyboard where the card went, so ↑ ↑ ↑ keeps moving the same card.
        const which = event && event.currentTarget && event.currentTarget.dataset.testid;
        this.$nextTick(() => {
          const cards = this.$root.querySelectorAll('[data-testid=step-card]');
          const card = cards[Math.max(0, Math.min(to, cards.length - 1))];
          const button = card && card.querySelector('[data-testid=' + which + ']:not([disabled])');
          const fallback = card && card.querySelector('[data-testid=step-up]:not([disabled]), [data-testid=step-down]:not([disabled])');
          if (button) button.focus(); else if (fallback) fallback.focus();
        });
      },

      dragStart(index, event) {
        this.dragging = index;
        event.dataTransfer.effectAllowed = 'move';
        event.dataTransfer.setData('text/plain', String(index));
        const card = event.target.closest('[data-testid=step-card]');
        if (card && event.dataTransfer.setDragImage) event.dataTransfer.setDragImage(card, 24, 24);
      },
      dragOver(index, event) {
        if (this.dragging === null) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = 'move';
        this.dropTarget = index;
      },
      drop(index, event) {
        event.preventDefault();
        const from = this.dragging === null ? Number(event.dataTransfer.getData('text/plain')) : this.dragging;
        this.dragging = null;
        this.dropTarget = null;
        if (!Number.isNaN(from)) this.moveTo(from, index);
      },
      dragEnd() { this.dragging = null; this.dropTarget = null; },

      async loadJoinCodes() {
        try {
          const response = await fetch('/api/v1/community/join-codes', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
          if (response.ok) this.joinCodes = ((await response.json()).items || []).map((code) => ({ url: code.url, name: code.name }));
        } catch (e) { this.joinCodes = []; }
      },
      inviteChosen(step) {
        const code = this.joinCodes.find((c) => c.url === step.invite_url);
        step.invite_title = code ? '加入「' + code.name + '」' : '';
        this.dirty = true;
      },

      call(method, path, body) { return window.consoleApi(method, config.api + path, body); },

      // An API error where it belongs: each `detail` problem under the input that names it
      // (data-field), the rest (and the message) in the notice line; the first input gets focus.
      showErrors(error) {
        const detail = error.data && Array.isArray(error.data.detail) ? error.data.detail : [];
        const errors = {};
        detail.forEach((problem) => { if (problem && problem.field) errors[problem.field] = problem.message; });
        this.errors = errors;
        this.say(error.message, 'error');
        this.$nextTick(() => {
          const first = this.$root.querySelector('[aria-invalid=true]');
          if (first) first.focus();
        });
      },

      async save() {
        this.busy = true;
        this.errors = {};
        this.notice = '';
        const steps = this.steps.map(toStep);
        try {
          let journey;
          if (!this.journey) {
            journey = await this.call('POST', '/journeys', { name: this.name, trigger: this.trigger, trigger_config: this.triggerConfig(), steps: steps });
            history.replaceState(null, '', '/console/scrm/journeys/' + journey.id);
            this.load(journey);
            this.say('已保存并发布第 1 版。旅程现在是草稿：可以先用一位客户试运行，确认无误后点“启动”。');
          } else {
            journey = await this.call('POST', '/journeys/' + this.journey.id + '/versions', { steps: steps });
            this.load(journey);
            this.say('已发布第 ' + journey.version + ' 版。新进入的客户走新版本，已在旅程中的客户走完自己进入时的版本。');
          }
        } catch (error) {
          this.showErrors(error);
        } finally {
          this.busy = false;
        }
      },

      async setStatus(status) {
        if (this.dirty) { this.say('有尚未发布的修改：请先“保存并发布新版本”。', 'error'); return; }
        this.busy = true;
        try {
          this.load(await this.call('POST', '/journeys/' + this.journey.id + '/status', { status: status }));
          this.say(status === 'active' ? '旅程已启动：满足触发条件的客户会自动进入。' : '旅程已暂停：不再有新客户进入，旅程中的客户停在当前步骤，恢复后继续。');
        } catch (error) {
          this.showErrors(error);
        } finally {
          this.busy = false;
        }
      },

      async runTest() {
        this.busy = true;
        this.testRun = null;
        this.clearError('one_id');
        try {
          this.testRun = await this.call('POST', '/journeys/' + this.journey.id + '/test-run', { one_id: this.oneId.trim() });
          const dirty = this.dirty;
          if (!dirty) this.load(await this.call('GET', '/journeys/' + this.journey.id));
          this.say('试运行完成：执行了 ' + this.testRun.runs.length + ' 个步骤。');
        } catch (error) {
          if (error.data && error.data.code === 'person_not_found') error.data.detail = [{ field: 'one_id', message: '没有这个 OneID 的客户' }];
          this.showErrors(error);
        } finally {
          this.busy = false;
        }
      },

      async rename() {
        this.busy = true;
        this.clearError('name');
        try {
          const journey = await this.call('PATCH', '/journeys/' + this.journey.id, { name: this.name });
          const dirty = this.dirty;
          const cards = this.steps;
          this.load(journey);
          // Renaming does not publish: unsaved cards stay as they are.
          if (dirty) { this.steps = cards; this.dirty = true; }
          this.name = journey.name;
          this.say('已重命名为“' + journey.name + '”。');
        } catch (error) {
          this.showErrors(error);
        } finally {
          this.busy = false;
        }
      },

      async removeJourney() {
        if (!window.confirm('删除旅程“' + this.journey.name + '”？它的版本与每步数据一并删除，已发出的券、任务和消息保留。')) return;
        this.busy = true;
        try {
          await this.call('DELETE', '/journeys/' + this.journey.id);
          this.dirty = false;
          window.location.assign('/console/scrm/');
        } catch (error) {
          this.showErrors(error);
          this.busy = false;
        }
      },

      // The list and the totals beside it are read together, so they agree.
      async showPeople() {
        this.tab = 'people';
        await this.loadPeople(this.people.page);
        if (!this.dirty) {
          try { this.load(await this.call('GET', '/journeys/' + this.journey.id)); } catch (error) { this.say(error.message, 'error'); }
        }
      },

      async loadPeople(page) {
        const query = new URLSearchParams({ page: String(page), page_size: String(this.people.page_size) });
        if (this.people.status) query.set('status', this.people.status);
        try {
          const data = await this.call('GET', '/journeys/' + this.journey.id + '/people?' + query.toString());
          this.people = Object.assign({}, this.people, data, { loaded: true });
        } catch (error) {
          this.say(error.message, 'error');
        }
      },

      when(iso) { return new Date(iso).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false }); },

      money(fen) { return '¥' + ((fen || 0) / 100).toFixed(2); },

      drawChart() {
        const box = document.querySelector('[data-testid=journey-chart]');
        if (!box || !window.echarts || !this.journey || !this.journey.stats.entered) { if (chart) { chart.dispose(); chart = null; } return; }
        const steps = this.journey.stats.steps;
        if (!box.clientWidth) { setTimeout(() => this.drawChart(), 50); return; }
        if (chart && chart.getDom() !== box) { chart.dispose(); chart = null; }
        if (!chart) chart = window.echarts.init(box);
        // data-loaded says the bars are on the canvas (ECharts paints on the next frame).
        box.dataset.loaded = 'false';
        chart.off('finished');
        chart.on('finished', () => { box.dataset.loaded = 'true'; });
        chart.setOption({
          animation: false,
          grid: { left: 36, right: 12, top: 34, bottom: 24 },
          legend: { top: 0, itemWidth: 12, itemHeight: 8, textStyle: { fontSize: 12 } },
          tooltip: { trigger: 'axis' },
          xAxis: { type: 'category', data: steps.map((s) => s.index + ' ' + SHORT[s.type]), axisLabel: { fontSize: 11, interval: 0 } },
          yAxis: { type: 'value', minInterval: 1 },
          series: [
            { name: '进入', type: 'bar', data: steps.map((s) => s.entered), itemStyle: { color: '#9fb3c8' } },
            { name: '执行', type: 'bar', data: steps.map((s) => s.done), itemStyle: { color: '#07a35a' } },
            { name: '跳过', type: 'bar', data: steps.map((s) => s.skipped), itemStyle: { color: '#e0a23b' } },
          ],
        }, true);
        chart.resize();
      },
    };
  };
})();
