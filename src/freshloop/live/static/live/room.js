// The live room: watch, comment, like, and buy without leaving the page.
// Everything user-typed is shown with x-text (textContent), never as HTML.
function liveRoom(code) {
  const base = '/api/v1/live/' + encodeURIComponent(code);
  const newDevice = () => { const id = 'd' + Date.now().toString(36) + Math.random().toString(36).slice(2, 10); localStorage.setItem('fl_device', id); return id; };
  let deviceId = localStorage.getItem('fl_device') || newDevice();
  return {
    state: { title: '', status: '', products: [], flash_sales: [], coupons: [], online: 0, likes: 0, me: null, play_url: '' },
    comments: [], draft: '', error: '', toast: '', drop: null, reserved: false,
    sheet: '', item: null, qty: 1, flash: null, coupons: [], chosen: [], quote: null, busy: false,
    pendingLikes: 0, events: null, player: null, joined: null, intent: purchaseIntent('live:' + code), latestQuote: latestOnly(),

    get pinned() { return this.state.products.find(p => p.pinned) || null; },
    flashFor(skuId) { return this.state.flash_sales.find(f => f.sku_id === skuId && f.remaining > 0) || null; },
    bought(skuId) { return !!(skuId && this.state.me && this.state.me.bought_sku_ids.includes(skuId)); },
    loggedIn() { return !!this.state.me; },
    when(iso) { return new Date(iso).toLocaleString('zh-CN', { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' }); },
    say(text) { this.toast = text; clearTimeout(this._toastTimer); this._toastTimer = setTimeout(() => { this.toast = ''; }, 3000); },
    login() { location.href = '/m/login?next=' + encodeURIComponent(location.pathname); },

    async start() {
      // Another address chosen in the sheet may change the shipping.
      this.$watch('book.chosenId', () => { if (this.sheet === 'checkout' && !this.flash) this.price(); });
      await this.refresh();
      // A comment typed while the join is still on its way waits for it (send awaits
      // this.joined): the server refuses comments from someone who has not joined.
      this.joined = this.join();
      this.comments = await api('GET', base + '/comments');
      await this.joined;
      this.listen();
      setInterval(() => api('POST', base + '/heartbeat', { device_id: deviceId }).catch(() => {}), 30000);
      // keepalive outlives the page like a beacon, and carries the CSRF token a beacon cannot.
      window.addEventListener('pagehide', () => fetch(base + '/leave', { method: 'POST', keepalive: true, credentials: 'same-origin', headers: { 'Content-Type': 'application/json', 'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content }, body: JSON.stringify({ device_id: deviceId }) }).catch(() => {}));
    },
    join(retried) {
      return api('POST', base + '/join', { device_id: deviceId }).then(() => true, (e) => {
        // This device now belongs to an account that is not logged in here: watch as a new guest.
        if (!retried && e.data && e.data.code === 'live_device_login_required') { deviceId = newDevice(); return this.join(true); }
        this.error = e.message; return false;
      });
    },
    async refresh() {
      this.state = await api('GET', base);
      this.play();
    },
    play() {
      const video = this.$refs.video;
      if (!this.state.play_url || !video || this.player === this.state.play_url) return;
      this.player = this.state.play_url;
      if (window.Hls && Hls.isSupported()) { const hls = new Hls(); hls.loadSource(this.state.play_url); hls.attachMedia(video); }
      else { video.src = this.state.play_url; }
      video.play().catch(() => {});
    },
    listen() {
      // EventSource reconnects by itself and sends Last-Event-ID, so nothing said while the
      // connection was down is lost.
      this.events = new EventSource(base + '/events');
      const on = (name, handler) => this.events.addEventListener(name, (e) => handler(JSON.parse(e.data)));
      on('comment', (c) => { if (!this.comments.some(x => x.id === c.id)) { this.comments.push(c); this.comments = this.comments.slice(-50); } this.$nextTick(() => { const list = this.$refs.comments; list.scrollTop = list.scrollHeight; }); });
      on('comment_deleted', (c) => { this.comments = this.comments.filter(x => x.id !== c.id); });
      on('like', (d) => { this.state.likes = d.likes; });
      on('join', (d) => { this.state.online = d.online; });
      on('order_paid', (d) => { this.say(d.nickname + ' 刚刚下单'); });
      on('coupon_drop', (d) => { this.drop = d; });
      on('draw', (d) => { this.say('抽奖结果：' + (d.winners || []).join('、')); });
      on('viewer_banned', (d) => { if (this.state.me && d.one_id === this.state.me.one_id) { this.error = '你已被移出直播间'; this.events.close(); } });
      on('flash_sale_stock', (d) => { const sale = this.state.flash_sales.find(f => f.id === d.id); if (sale) sale.remaining = d.remaining; });
      ['pin', 'unpin', 'status', 'flash_sale_started', 'flash_sale_ended'].forEach((name) => on(name, () => this.refresh()));
    },
    async reserve() {
      if (!this.loggedIn()) return this.login();
      try { await api('POST', base + '/reserve'); this.reserved = true; this.say('已预约，开播前提醒你'); } catch (e) { this.error = e.message; }
    },
    async send() {
      const text = this.draft.trim();
      if (!text) return;
      if (!this.loggedIn()) return this.login();
      // Not joined yet (still joining, or the join failed, say before the page knew the
      // session was live): join first, once more if it had failed.
      if (!(await this.joined)) this.joined = this.join();
      if (!(await this.joined)) return;
      this.error = '';
      try { const c = await api('POST', base + '/comments', { text: text }); this.draft = ''; if (!this.comments.some(x => x.id === c.id)) this.comments.push(c); }
      catch (e) { this.error = e.message; }
    },
    likeTap() {
      this.state.likes += 1; this.pendingLikes += 1;
      clearTimeout(this._likeTimer);
      this._likeTimer = setTimeout(() => { const count = Math.min(this.pendingLikes, 50); this.pendingLikes = 0; api('POST', base + '/likes', { count: count, device_id: deviceId }).then(d => { this.state.likes = d.likes; }).catch(() => {}); }, 400);
    },
    async claim(templateId) {
      if (!this.loggedIn()) return this.login();
      try { const c = await api('POST', base + '/coupons/' + templateId + '/claim'); this.drop = null; this.say('已领取 ' + c.name); } catch (e) { this.say(e.message); }
    },
    openProducts() { this.sheet = 'products'; },
    closeSheet() { this.sheet = ''; },
    track(action, skuId) { api('POST', base + '/track', { action: action, sku_id: skuId, device_id: deviceId }).catch(() => {}); },

    body() {
      return { items: [{ sku_id: this.item.sku_id, quantity: this.qty }], channel: 'live', source_ref: code, coupon_ids: this.chosen, points: 0 };
    },
    async buy(product) {
      if (!product || this.bought(product.sku_id)) return;
      if (!this.loggedIn()) return this.login();
      this.item = product; this.qty = 1; this.flash = this.flashFor(product.sku_id); this.chosen = []; this.quote = null; this.error = '';
      this.track('add_to_cart', product.sku_id);
      this.sheet = 'checkout';
      // The address book (web/address_book.js) loads beside the coupons; the price waits for
      // it so shipping is charged for the buyer's own address, not the nationwide rule.
      const addresses = this.book.loaded ? null : this.bookLoad();
      try {
        this.coupons = this.flash ? [] : await api('POST', '/api/v1/shop/checkout/coupons', this.body());
        const best = this.coupons.find(c => c.usable); if (best) this.chosen = [best.coupon_id];
      } catch (e) { this.coupons = []; }
      await addresses;
      await this.price();
    },
    toggleCoupon(id) { this.chosen = this.chosen.includes(id) ? this.chosen.filter(c => c !== id) : [...this.chosen, id]; this.price(); },
    async price() {
      try {
        const answer = await this.latestQuote(() => (this.flash
          ? api('POST', base + '/flash-sales/' + this.flash.id + '/quote', { quantity: this.qty, coupon_ids: this.chosen })
          : api('POST', '/api/v1/shop/checkout/preview', Object.assign(this.body(), this.bookPricing()))));
        if (answer.fresh) this.quote = answer.value;
      } catch (e) { this.quote = null; this.error = e.message; }
    },
    async placeOrder() {
      this.busy = true; this.error = '';
      // The same purchase tapped again after an error reuses its key (one order, not two).
      const key = this.intent.key(this.flash ? { flash: this.flash.id, quantity: this.qty, coupon_ids: this.chosen } : this.body());
      try {
        const address = await this.bookForOrder();
        const order = this.flash
          ? await api('POST', '/api/v1/live/flash-sales/' + this.flash.id + '/buy', Object.assign({ quantity: this.qty, coupon_ids: this.chosen }, address), { 'Idempotency-Key': key })
          : await api('POST', '/api/v1/shop/orders', Object.assign(this.body(), address), { 'Idempotency-Key': key });
        this.intent.done();
        // The cashier takes over (WeChat JSAPI, a QR, or the provider's page that returns here);
        // the viewer stays in the room.
        this.sheet = '';
        window.dispatchEvent(new CustomEvent('cashier:open', { detail: { orderNo: order.order_no, returnTo: location.pathname, inFrame: true, amountFen: order.total_fen } }));
      } catch (e) { this.error = e.message; showFieldErrors(this.$refs.checkoutSheet, e, (message) => this.say(message)); }
      this.busy = false;
    },
    async paid() { this.say('支付成功，已购'); await this.refresh(); },
  };
}
