// What the page knows: the latest status snapshot, and the CPU and memory history of each
// watcher and process, kept for the last minutes from the stats messages (for the
// sparklines and the charts). It lives as long as the tab, across views.

export const HISTORY_SECONDS = 600;
const MAX_POINTS = 1200; // bounds memory whatever the stats interval

export class Series {
  constructor() {
    this.t = [];
    this.cpu = [];
    this.rss = [];
  }

  push(at, cpu, rss) {
    this.t.push(at);
    this.cpu.push(cpu);
    this.rss.push(rss);
    let drop = 0;
    while (drop < this.t.length && (this.t[drop] < at - HISTORY_SECONDS ||
      this.t.length - drop > MAX_POINTS)) drop += 1;
    if (drop) {
      this.t.splice(0, drop);
      this.cpu.splice(0, drop);
      this.rss.splice(0, drop);
    }
  }
}

export class Store {
  constructor() {
    this.status = null;
    this.watchers = new Map(); // name -> WatcherInfo
    this.history = new Map(); // "name" or "name/wid" -> Series
    this.lastStats = new Map(); // same keys -> latest stats
    this.statsAt = 0;
  }

  setStatus(status) {
    this.status = status;
    this.watchers = new Map(status.watchers.map((w) => [w.name, w]));
  }

  // A stats message may cover every watcher or one: only what it names is updated.
  addStats(stats) {
    this.statsAt = stats.at;
    for (const watcher of stats.watchers) {
      this.series(watcher.name).push(stats.at, watcher.cpu_percent, watcher.rss);
      this.lastStats.set(watcher.name, watcher);
      for (const p of watcher.processes) {
        const key = `${watcher.name}/${p.wid}`;
        this.series(key).push(stats.at, p.cpu_percent, p.rss);
        this.lastStats.set(key, p);
      }
    }
    // Processes and watchers gone for longer than the window are forgotten.
    for (const [key, series] of this.history) {
      if (series.t.length && series.t[series.t.length - 1] < stats.at - HISTORY_SECONDS) {
        this.history.delete(key);
        this.lastStats.delete(key);
      }
    }
  }

  series(key) {
    let series = this.history.get(key);
    if (!series) {
      series = new Series();
      this.history.set(key, series);
    }
    return series;
  }

  names() {
    return this.status ? this.status.watchers.map((w) => w.name) : [];
  }
}
