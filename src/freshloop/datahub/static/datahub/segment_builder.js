// The segment builder: the rule tree lives in `state` (the grammar of datahub.segments.grammar), is
// drawn from scratch on every change, and is sent to the API for a live count (debounced),
// for saving and for materialising. Menus come from the page's schema — the server's own
// whitelists — and every value from the page goes into the DOM through textContent/value.
(function () {
  'use strict';

  const config = JSON.parse(document.getElementById('builder-config').textContent);
  const schema = config.schema;
  const api = config.api;
  const tree = document.getElementById('rule-tree');
  const errorBox = document.querySelector('[data-testid=builder-error]');
  const previewCount = document.querySelector('[data-testid=preview-count]');
  const previewState = document.querySelector('[data-testid=preview-state]');
  const tagFields = new Map(schema.tag_fields.map((f) => [f.key, f]));
  const traitFields = new Map(schema.trait_fields.map((f) => [f.key, f]));
  const PREVIEW_DELAY_MS = 400;
  const LIST_SPLIT = /[,，、\s]+/;
  // Suggestion lists (<datalist>) live outside the tree, which is redrawn on every change.
  const suggestionLists = document.body.appendChild(document.createElement('div'));

  const EXAMPLES = {
    live_not_paid: { op: 'and', rules: [
      { kind: 'event', name: 'live_join', measure: 'distinct_live_sessions', operator: 'gte', value: 2, within_days: 30 },
      { kind: 'event', name: 'order_paid', measure: 'count', operator: 'eq', value: 0, within_days: 30 },
    ] },
    at_risk_value: { op: 'and', rules: [
      { kind: 'tag', field: 'lifecycle', operator: 'eq', value: '流失预警' },
      { kind: 'tag', field: 'rfm_segment', operator: 'in', value: ['重要价值客户', '重要保持客户', '重要挽留客户'] },
    ] },
    coupon_lovers: { op: 'and', rules: [
      { kind: 'tag', field: 'price_sensitivity', operator: 'eq', value: '高' },
      { kind: 'tag', field: 'top_categories', operator: 'contains', value: '鲜牛奶' },
    ] },
  };

  let state = (config.segment && config.segment.definition) || { op: 'and', rules: [defaultCondition()] };

  function defaultCondition() {
    return { kind: 'tag', field: 'lifecycle', operator: 'eq', value: '活跃' };
  }

  // The console's API helper (web/console.js), under the segments API.
  function call(method, path, body, extraHeaders) { return window.consoleApi(method, api + path, body, extraHeaders); }

  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([key, value]) => {
      if (key === 'text') node.textContent = String(value);
      else if (key === 'className') node.className = value;
      else if (key === 'testid') node.dataset.testid = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    });
    (children || []).forEach((child) => child && node.appendChild(child));
    return node;
  }

  function select(options, current, onChange, testid) {
    const node = el('select', testid ? { testid: testid } : {});
    options.forEach(([value, label]) => {
      const option = el('option', { value: value, text: label });
      if (String(value) === String(current)) option.selected = true;
      node.appendChild(option);
    });
    node.addEventListener('change', () => onChange(node.value));
    return node;
  }

  function opLabel(op) { return schema.operator_labels[op] || op; }

  function changed() { render(); schedulePreview(); }

  function isList(operator) { return operator === 'in' || operator === 'not_in'; }

  function valueInput(rule, type, suggestions) {
    if (isList(rule.operator)) {
      const text = Array.isArray(rule.value) ? rule.value.join('、') : (rule.value || '');
      const input = el('input', { value: text, placeholder: '多个值用、或逗号分开', testid: 'rule-value', list: suggestions.length ? datalistFor(suggestions) : '' });
      input.addEventListener('change', () => {
        const parts = input.value.split(LIST_SPLIT).filter(Boolean);
        rule.value = type === 'integer' ? parts.map(Number) : parts;
        changed();
      });
      return input;
    }
    if (suggestions.length && type !== 'integer' && type !== 'number') {
      const options = suggestions.map((s) => [s.value, s.label]);
      if (!options.some(([v]) => String(v) === String(rule.value))) rule.value = options[0][0];
      return select(options, rule.value, (v) => { rule.value = v; changed(); }, 'rule-value');
    }
    const numeric = type === 'integer' || type === 'number';
    const input = el('input', { type: numeric ? 'number' : 'text', value: rule.value === undefined ? '' : rule.value, testid: 'rule-value', step: type === 'number' ? '0.05' : '1' });
    input.addEventListener('change', () => { rule.value = numeric ? Number(input.value) : input.value; changed(); });
    return input;
  }

  let datalistCount = 0;
  function datalistFor(suggestions) {
    datalistCount += 1;
    const id = 'suggest-' + datalistCount;
    const list = el('datalist', { id: id });
    suggestions.forEach((s) => list.appendChild(el('option', { value: s.value, text: s.label })));
    suggestionLists.appendChild(list);
    return id;
  }

  function tagCondition(rule, row) {
    const field = tagFields.get(rule.field) || schema.tag_fields[0];
    row.appendChild(select(schema.tag_fields.map((f) => [f.key, f.label]), field.key, (v) => {
      const next = tagFields.get(v);
      rule.field = v; rule.operator = next.operators[0];
      rule.value = next.values.length ? next.values[0].value : (next.type === 'string' || next.type === 'list' ? '' : 0);
      changed();
    }, 'rule-field'));
    if (!field.operators.includes(rule.operator)) rule.operator = field.operators[0];
    row.appendChild(select(field.operators.map((o) => [o, opLabel(o)]), rule.operator, (v) => {
      const wasList = isList(rule.operator);
      rule.operator = v;
      if (isList(v) && !wasList) rule.value = rule.value === '' || rule.value === undefined ? [] : [rule.value];
      if (!isList(v) && wasList) rule.value = Array.isArray(rule.value) ? rule.value[0] : rule.value;
      changed();
    }, 'rule-operator'));
    row.appendChild(valueInput(rule, field.type, field.values));
  }

  function manualTagCondition(rule, row) {
    row.appendChild(select(schema.manual_tag_operators.map((o) => [o, opLabel(o)]), rule.operator, (v) => { rule.operator = v; changed(); }, 'rule-operator'));
    const input = el('input', { value: rule.value || '', placeholder: '标签名', testid: 'rule-value', list: datalistFor(schema.manual_tags.map((t) => ({ value: t, label: t }))) });
    input.addEventListener('change', () => { rule.value = input.value.trim(); changed(); });
    row.appendChild(input);
  }

  function traitCondition(rule, row) {
    const name = el('input', { value: rule.field || '', placeholder: '属性名，如 gender', testid: 'rule-field', list: datalistFor(schema.trait_fields.map((f) => ({ value: f.key, label: f.label }))) });
    name.addEventListener('change', () => { rule.field = name.value.trim(); changed(); });
    row.appendChild(name);
    const known = traitFields.get(rule.field);
    if (known) row.appendChild(el('span', { className: 'hint', text: known.label }));
    row.appendChild(select(schema.trait_operators.map((o) => [o, opLabel(o)]), rule.operator, (v) => {
      rule.operator = v;
      if (v === 'exists') rule.value = true;
      else if (v === 'in') rule.value = Array.isArray(rule.value) ? rule.value : [];
      else if (typeof rule.value === 'boolean' || Array.isArray(rule.value)) rule.value = '';
      changed();
    }, 'rule-operator'));
    if (rule.operator === 'exists') {
      row.appendChild(select([['true', '是'], ['false', '否']], String(rule.value !== false), (v) => { rule.value = v === 'true'; changed(); }, 'rule-value'));
    } else {
      const type = rule.operator === 'gte' || rule.operator === 'lte' ? 'number' : 'string';
      row.appendChild(valueInput(rule, type, known && rule.operator !== 'gte' && rule.operator !== 'lte' ? known.values : []));
    }
  }

  function eventCondition(rule, row) {
    const events = schema.events.map((e) => [e.name, e.label + '（' + e.name + '）']);
    if (!schema.events.some((e) => e.name === rule.name)) events.unshift([rule.name, rule.name]);
    row.appendChild(el('span', { text: '近' }));
    const within = el('input', { type: 'number', min: '1', max: '3650', value: rule.within_days || '', placeholder: '不限', testid: 'rule-within', style: 'width:70px' });
    within.addEventListener('change', () => {
      if (within.value === '') delete rule.within_days; else rule.within_days = Number(within.value);
      changed();
    });
    row.appendChild(within);
    row.appendChild(el('span', { text: '天' }));
    row.appendChild(select(events, rule.name, (v) => { rule.name = v; changed(); }, 'rule-event'));
    row.appendChild(select([['', '全部渠道']].concat(schema.channels.map((c) => [c.value, c.label])), rule.channel || '', (v) => {
      if (v) rule.channel = v; else delete rule.channel;
      changed();
    }, 'rule-channel'));
    row.appendChild(select(Object.entries(schema.measures), rule.measure || 'count', (v) => { rule.measure = v; changed(); }, 'rule-measure'));
    row.appendChild(select(schema.event_operators.map((o) => [o, opLabel(o)]), rule.operator, (v) => { rule.operator = v; changed(); }, 'rule-operator'));
    const value = el('input', { type: 'number', min: '0', value: rule.value, testid: 'rule-value' });
    value.addEventListener('change', () => { rule.value = Number(value.value); changed(); });
    row.appendChild(value);
  }

  function regionCondition(rule, row) {
    row.appendChild(select(schema.region_scopes.map((s) => [s.value, s.label]), rule.scope, (v) => {
      rule.scope = v;
      const first = schema.regions[v][0];
      rule.value = rule.operator === 'in' ? [first] : first;
      changed();
    }, 'rule-scope'));
    row.appendChild(select(schema.region_operators.map((o) => [o, opLabel(o)]), rule.operator, (v) => {
      rule.operator = v;
      if (v === 'in' && !Array.isArray(rule.value)) rule.value = rule.value ? [rule.value] : [];
      if (v !== 'in' && Array.isArray(rule.value)) rule.value = rule.value[0] || schema.regions[rule.scope][0];
      changed();
    }, 'rule-operator'));
    const names = schema.regions[rule.scope] || [];
    // Zones and provinces are few enough for a menu; cities are typed, with suggestions.
    row.appendChild(valueInput(rule, 'string', rule.scope === 'city' && rule.operator !== 'in' ? [] : names.map((n) => ({ value: n, label: n }))));
    if (rule.scope === 'city' && rule.operator !== 'in') row.lastChild.setAttribute('list', datalistFor(names.map((n) => ({ value: n, label: n }))));
  }

  function conditionRow(rule, parent, index) {
    const row = el('div', { className: 'rule', testid: 'rule' });
    const negate = el('label', { className: 'hint' }, [el('input', { type: 'checkbox' }), document.createTextNode('不满足')]);
    negate.firstChild.checked = !!rule.not;
    negate.firstChild.addEventListener('change', (e) => { if (e.target.checked) rule.not = true; else delete rule.not; changed(); });
    row.appendChild(negate);
    row.appendChild(select(Object.entries(schema.kinds), rule.kind, (kind) => {
      const fresh = {
        tag: defaultCondition(),
        manual_tag: { kind: 'manual_tag', operator: 'has', value: schema.manual_tags[0] || '' },
        trait: { kind: 'trait', field: 'gender', operator: 'eq', value: 'female' },
        event: { kind: 'event', name: 'live_join', measure: 'count', operator: 'gte', value: 1, within_days: 30 },
        region: { kind: 'region', scope: 'zone', operator: 'eq', value: schema.regions.zone[0] },
      }[kind];
      parent.rules[index] = fresh;
      changed();
    }, 'rule-kind'));
    ({ tag: tagCondition, manual_tag: manualTagCondition, trait: traitCondition, event: eventCondition, region: regionCondition })[rule.kind](rule, row);
    row.appendChild(el('button', { type: 'button', className: 'btn small', text: '删除', title: '删除这个条件', onclick: () => { parent.rules.splice(index, 1); changed(); } }));
    return row;
  }

  function groupBox(group, parent, index, depth) {
    const box = el('div', { className: 'rule-group', testid: 'rule-group' });
    const head = el('div', { className: 'group-head' });
    head.appendChild(el('span', { text: depth === 1 ? '满足以下' : '条件组：满足' }));
    head.appendChild(select([['and', '全部条件（且）'], ['or', '任一条件（或）']], group.op, (v) => { group.op = v; changed(); }, 'group-op'));
    const negate = el('label', {}, [el('input', { type: 'checkbox' }), document.createTextNode('整组取反')]);
    negate.firstChild.checked = !!group.not;
    negate.firstChild.addEventListener('change', (e) => { if (e.target.checked) group.not = true; else delete group.not; changed(); });
    head.appendChild(negate);
    head.appendChild(el('button', { type: 'button', className: 'btn small', text: '+ 条件', testid: 'add-condition', onclick: () => { group.rules.push(defaultCondition()); changed(); } }));
    if (depth < schema.limits.max_depth) {
      head.appendChild(el('button', { type: 'button', className: 'btn small', text: '+ 条件组', testid: 'add-group', onclick: () => { group.rules.push({ op: 'or', rules: [defaultCondition()] }); changed(); } }));
    }
    if (parent) head.appendChild(el('button', { type: 'button', className: 'btn small danger', text: '删除组', onclick: () => { parent.rules.splice(index, 1); changed(); } }));
    box.appendChild(head);
    group.rules.forEach((rule, i) => {
      if (i > 0) box.appendChild(el('span', { className: 'joiner', text: group.op === 'and' ? '且' : '或' }));
      box.appendChild(rule.rules ? groupBox(rule, group, i, depth + 1) : conditionRow(rule, group, i));
    });
    if (!group.rules.length) box.appendChild(el('p', { className: 'hint', text: '空的条件组：请添加条件' }));
    return box;
  }

  function render() {
    suggestionLists.replaceChildren();
    tree.replaceChildren(groupBox(state, null, 0, 1));
  }

  function showError(error) {
    errorBox.className = 'dh-notice error';
    errorBox.textContent = error.message;
    errorBox.hidden = false;
  }

  let previewTimer = null;
  let previewSeq = 0;
  function schedulePreview() {
    clearTimeout(previewTimer);
    previewState.textContent = '计算中…';
    previewTimer = setTimeout(preview, PREVIEW_DELAY_MS);
  }

  async function preview() {
    const seq = ++previewSeq;
    try {
      const data = await call('POST', '/preview', { definition: state });
      if (seq !== previewSeq) return;
      previewCount.textContent = String(data.count);
      previewState.textContent = '按当前规则实时统计';
      errorBox.hidden = true;
    } catch (error) {
      if (seq !== previewSeq) return;
      previewCount.textContent = '—';
      previewState.textContent = '规则还不完整';
      showError(error);
    }
  }

  function field(name) { return document.querySelector('[data-testid=segment-' + name + ']'); }

  async function save() {
    const body = { name: field('name').value, description: field('description').value, definition: state };
    const button = document.querySelector('[data-action=save]');
    button.disabled = true;
    try {
      const saved = config.segment ? await call('PUT', '/' + config.segment.id, body) : await call('POST', '', body);
      location.href = '/console/data/segments/' + saved.id + '?saved=1';
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  }

  function bind(action, handler) {
    const button = document.querySelector('[data-action=' + action + ']');
    if (button) button.addEventListener('click', handler);
  }

  bind('save', save);
  bind('delete', async () => {
    if (!window.confirm('确定删除这个人群吗？已发出的券不受影响。')) return;
    try { await call('DELETE', '/' + config.segment.id); location.href = '/console/data/segments/'; } catch (error) { showError(error); }
  });
  bind('materialise', async () => {
    try {
      const data = await call('POST', '/' + config.segment.id + '/materialise');
      document.querySelector('[data-testid=member-count]').textContent = String(data.member_count);
      document.querySelector('[data-testid=materialised-at]').textContent = '刚刚';
    } catch (error) { showError(error); }
  });
  bind('issue', async () => {
    const template = document.querySelector('[data-testid=coupon-template]').value;
    if (!window.confirm('确定给这个人群的每位成员发一张券吗？')) return;
    // One issue per click: a double click must not give everyone a second coupon.
    const button = document.querySelector('[data-action=issue]');
    button.disabled = true;
    try {
      // One key per click: if the answer is lost and the request retried, nobody gets a
      // second coupon (the server answers the first result).
      const key = 'seg-' + config.segment.id + '-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
      const data = await call('POST', '/' + config.segment.id + '/issue-coupon', { template_id: Number(template) }, { 'Idempotency-Key': key });
      errorBox.hidden = false;
      errorBox.className = 'dh-notice ok';
      errorBox.textContent = '已发放 ' + data.issued + ' 张' + (data.skipped ? '，跳过 ' + data.skipped + ' 人(已达限领、总量用完或用户已失效)' : '') + (data.replayed ? '（重复提交，按第一次的结果显示，未再次发券）' : '');
    } catch (error) { errorBox.className = 'dh-notice error'; showError(error); } finally { button.disabled = false; }
  });
  document.querySelectorAll('[data-example]').forEach((button) => button.addEventListener('click', () => {
    state = JSON.parse(JSON.stringify(EXAMPLES[button.dataset.example]));
    if (!field('name').value) field('name').value = button.textContent;
    changed();
  }));

  render();
  preview();
})();
