// The cashier: one component for every page that takes money (the live room's sheet, the
// order page). The server says how this buyer can pay from where they are (WeChat JSAPI inside
// WeChat, WeChat H5 / Alipay WAP on a phone, a QR code on a desktop, the sandbox where it is
// on); the cashier opens the payment and then asks the server — which asks the provider (查单)
// — until the money is booked. Nothing here ever marks an order paid: the WeChat bridge saying
// "ok" or the buyer coming back from a provider's page only starts the asking.
//
// A page opens it with a window event:  cashier:open  {orderNo, returnTo, inFrame}
// and hears back:                       cashier:paid  {orderNo, paymentNo}
//                                       cashier:closed {orderNo}
(function () {
  const PAYING_KEY = 'fl_paying';
  const POLL_MS = 2000;
  const POLL_LIMIT = 90; // three minutes of asking, then the buyer can ask again by hand

  function bridgeReady() {
    if (window.WeixinJSBridge) return Promise.resolve(window.WeixinJSBridge);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('请在微信中打开后支付')), 5000);
      document.addEventListener('WeixinJSBridgeReady', () => { clearTimeout(timer); resolve(window.WeixinJSBridge); }, { once: true });
    });
  }

  // WeChat's getBrandWCPayRequest: resolves with "ok", "cancel" or "fail".
  async function payInWechat(params) {
    const bridge = await bridgeReady();
    return new Promise((resolve) => {
      bridge.invoke('getBrandWCPayRequest', params, (result) => {
        const said = String((result && result.err_msg) || '');
        resolve(said.endsWith(':ok') ? 'ok' : said.endsWith(':cancel') ? 'cancel' : 'fail');
      });
    });
  }

  function withParam(path, name, value) {
    const url = new URL(path, location.origin);
    url.searchParams.set(name, value);
    return url.pathname + url.search;
  }

  window.cashier = function () {
    return {
      open: false,
      stage: 'choose', // choose | frame | qr | waiting | paid
      orderNo: '',
      returnTo: '',
      inFrame: false,
      context: '',
      methods: [],
      chosen: null,
      payment: null,
      busy: false,
      message: '',
      polls: 0,
      frameUrl: '',
      knownAmountFen: 0,

      init() {
        window.addEventListener('cashier:open', (event) => this.show(event.detail || {}));
        // Back from a provider's page (H5 / WAP): ask about the payment we left for.
        const paying = new URLSearchParams(location.search).get('paying');
        const left = JSON.parse(sessionStorage.getItem(PAYING_KEY) || 'null');
        if (paying && left && left.orderNo === paying) {
          this.orderNo = left.orderNo; this.returnTo = left.returnTo || '';
          this.payment = { payment_no: left.paymentNo };
          this.open = true; this.stage = 'waiting'; this.message = '正在确认支付结果…';
          this.poll();
        }
      },

      async show(detail) {
        Object.assign(this, { open: true, stage: 'choose', orderNo: detail.orderNo, returnTo: detail.returnTo || '', inFrame: !!detail.inFrame, knownAmountFen: detail.amountFen || 0, payment: null, message: '', polls: 0, frameUrl: '' });
        try {
          const answer = await api('GET', '/api/v1/payments/methods');
          this.context = answer.context; this.methods = answer.methods;
          this.chosen = this.methods.find((m) => m.ready) || null;
          if (!this.methods.length) { this.message = '当前环境暂无可用的支付方式'; return; }
          // One way to pay and nothing to decide: go straight on.
          if (this.methods.length === 1 && this.chosen) await this.pay();
        } catch (e) { this.message = e.message; }
      },

      amountFen() { return (this.payment && this.payment.amount_fen) || this.knownAmountFen; },

      label(method) { return method.label + (method.client_kind === 'native' ? '（扫码）' : ''); },

      async pay() {
        if (!this.chosen || this.busy) return;
        this.busy = true; this.message = '';
        // Where the provider's page sends the buyer back to; a sandbox page inside the sheet
        // lands on the order page (hidden as soon as the money is booked).
        const framed = this.inFrame && this.chosen.provider === 'sandbox';
        const back = framed ? '/m/orders/' + encodeURIComponent(this.orderNo) : withParam(this.returnTo || location.pathname, 'paying', this.orderNo);
        try {
          this.payment = await api('POST', '/api/v1/payments', { order_no: this.orderNo, provider: this.chosen.provider, client_kind: this.chosen.client_kind, return_to: back });
          const prompt = this.payment.prompt;
          if (prompt.kind === 'jsapi') {
            const said = await payInWechat(prompt.jsapi);
            if (said === 'cancel') { this.message = '已取消支付'; this.busy = false; return; }
            // "ok" from the bridge is not money: the provider's answer decides.
            this.stage = 'waiting'; this.message = said === 'ok' ? '正在确认支付结果…' : '支付未完成，正在向渠道确认…';
            this.poll();
          } else if (prompt.kind === 'qr') {
            this.stage = 'qr'; this.message = this.chosen.provider === 'alipay' ? '请用支付宝扫码支付' : (this.chosen.provider === 'wechatpay' ? '请用微信扫码支付' : '请用手机扫码完成支付');
            this.poll();
          } else if (framed) {
            // The sandbox's page opens inside the sheet: the viewer never leaves the room.
            this.stage = 'frame'; this.frameUrl = prompt.redirect_url; this.poll();
          } else {
            sessionStorage.setItem(PAYING_KEY, JSON.stringify({ orderNo: this.orderNo, paymentNo: this.payment.payment_no, returnTo: this.returnTo }));
            location.href = prompt.redirect_url;
            return;
          }
        } catch (e) { this.message = e.message; this.stage = 'choose'; }
        this.busy = false;
      },

      async poll() {
        if (!this.open || !this.payment || this.stage === 'paid') return;
        this.polls += 1;
        try {
          const answer = await api('POST', '/api/v1/payments/' + encodeURIComponent(this.payment.payment_no) + '/sync');
          if (answer.status === 'succeeded') return this.paid(answer);
          if (answer.status === 'failed' || answer.status === 'closed') {
            this.stage = 'choose'; this.message = '支付未成功，请重新选择支付方式'; sessionStorage.removeItem(PAYING_KEY); return;
          }
        } catch (e) { /* the provider may be slow; keep asking */ }
        if (this.polls >= POLL_LIMIT) { this.message = '还没有收到支付结果，已付款请稍后刷新'; return; }
        setTimeout(() => this.poll(), POLL_MS);
      },

      paid(answer) {
        this.stage = 'paid'; this.message = '支付成功'; this.busy = false;
        sessionStorage.removeItem(PAYING_KEY);
        window.dispatchEvent(new CustomEvent('cashier:paid', { detail: { orderNo: this.orderNo, paymentNo: answer.payment_no } }));
      },

      close() {
        this.open = false;
        window.dispatchEvent(new CustomEvent('cashier:closed', { detail: { orderNo: this.orderNo } }));
      },
    };
  };
})();
