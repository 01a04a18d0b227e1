// The pantry page (/m/pantry): list by expiry, add by scan or by hand, 用完了 / 扔掉了.
// Writes go through /api/v1/food/pantry; the waste counter is the API's answer after each.
(function () {
  const API = '/api/v1/food/pantry';
  const JSSDK_SRC = (document.currentScript && document.currentScript.dataset.jssdk) || '';
  let wechatReady = null;

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = src; script.onload = resolve; script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  // wx.scanQRCode works only after wx.config signed by the server for this page's address
  // (the same /api/v1/auth/wechat/js-config the address book uses). A failure lets the next
  // tap try again; outside WeChat the button is hidden and the digits are typed.
  function wechatConfigured() {
    if (!wechatReady) {
      wechatReady = (async () => {
        if (!window.wx && JSSDK_SRC) await loadScript(JSSDK_SRC);
        const url = location.href.split('#')[0];
        const signed = await api('GET', '/api/v1/auth/wechat/js-config?url=' + encodeURIComponent(url));
        await new Promise((resolve, reject) => {
          wx.config({ debug: false, appId: signed.app_id, timestamp: signed.timestamp, nonceStr: signed.nonce_str, signature: signed.signature, jsApiList: ['scanQRCode'] });
          wx.ready(resolve);
          wx.error(reject);
        });
      })();
      wechatReady.catch(() => { wechatReady = null; });
    }
    return wechatReady;
  }

  const EMPTY = () => ({ barcode: '', name: '', storage: '', expires_on: '', quantity: 1 });

  window.pantryPage = function () {
    return {
      items: JSON.parse(document.getElementById('pantry-items').textContent || '[]'),
      waste: { saved: 0, thrown: 0, rate: 0 },
      form: EMPTY(),
      busy: false,
      inWechat: /MicroMessenger/i.test(navigator.userAgent),

      init() {
        const box = document.querySelector('[data-testid=pantry-waste]');
        const numbers = box.querySelectorAll('b');
        this.waste = { saved: +numbers[0].textContent, thrown: +numbers[1].textContent, rate: parseInt(numbers[2].textContent, 10) || 0, closed: +numbers[2].dataset.closed || 0 };
        if (this.inWechat) wechatConfigured().catch(() => {});
      },

      when(item) {
        if (item.days_left < 0) return '已过期 ' + (-item.days_left) + ' 天';
        if (item.days_left === 0) return '今天到期';
        return '还有 ' + item.days_left + ' 天到期（' + item.expires_on + '）' + (item.estimated ? '·估算' : '');
      },

      async scan() {
        try {
          await wechatConfigured();
          wx.scanQRCode({
            needResult: 1,
            scanType: ['barCode'],
            success: (res) => {
              // resultStr looks like "EAN_13,6901234567892"
              const digits = String(res.resultStr || '').split(',').pop().replace(/\D/g, '');
              this.form.barcode = digits;
              this.lookup();
            },
          });
        } catch (e) { toast('无法打开扫一扫，请手动输入条码', 'error'); }
      },

      async lookup() {
        const code = this.form.barcode;
        if (!/^\d{13}$/.test(code)) return;
        try {
          const found = await api('GET', API + '/barcodes/' + code);
          if (found.sku_id) { this.form.name = found.name; this.form.storage = found.storage; }
        } catch (e) { toast(e.message, 'error'); }
      },

      async add(form) {
        this.busy = true;
        clearFieldErrors(form);
        const body = { barcode: this.form.barcode.trim(), name: this.form.name.trim(), storage: this.form.storage, expires_on: this.form.expires_on, quantity: Number(this.form.quantity) || 1 };
        if (!body.expires_on) { showFieldErrors(form, { detail: [{ field: 'expires_on', message: '请选择到期日期' }] }, toast); this.busy = false; return; }
        try {
          const item = await api('POST', API + '/items', body);
          await this.reload();
          this.form = EMPTY();
          toast('已放进食品柜：' + item.name);
        } catch (e) { showFieldErrors(form, e, (text) => toast(text, 'error')); }
        this.busy = false;
      },

      async close(item, outcome) {
        try {
          await api('POST', API + '/items/' + item.id + '/' + outcome);
          toast(outcome === 'used' ? '好的，已用完' : '已记录扔掉');
          await this.reload();
        } catch (e) { toast(e.message, 'error'); await this.reload(); }
      },

      async reload() {
        const data = await api('GET', API);
        const storage = { ambient: '常温', chilled: '冷藏', frozen: '冷冻' };
        this.items = data.items.map((i) => ({ id: i.id, name: i.name, storage: storage[i.storage] || i.storage, quantity: i.quantity, expires_on: i.expires_on, days_left: i.days_left, colour: i.colour, estimated: i.expiry_estimated, reorder: i.sku_id !== null }));
        this.waste = { saved: data.waste.saved, thrown: data.waste.thrown, rate: data.waste.saved_rate, closed: data.waste.saved + data.waste.used_late + data.waste.thrown };
      },
    };
  };
})();
