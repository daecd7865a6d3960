// Open the demo app in headless Chromium, upload a WAV, submit, wait for six emotion bars and the transcript,
// save a screenshot; then ask for a model directory that is not an mmembed model and wait for the message.
// usage: node analyse.mjs URL WAV SCREENSHOT   (CHROMIUM: the browser binary, default /usr/bin/chromium)
import { chromium } from "playwright-core";

const [url, wav, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const report = {};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.goto(url, { waitUntil: "networkidle" });
  await page.locator("input[type=file]").first().setInputFiles(wav);
  await page.locator("#transcript-input textarea").fill("it felt lonely and calm");
  await page.locator("#analyse").click();
  await page.locator("#emotion-bars .emotion-bar").nth(5).waitFor({ timeout: 120000 });
  await page.waitForFunction(() => document.querySelector("#asr-transcript textarea")?.value.length > 0);
  report.bars = await page.locator("#emotion-bars .emotion-bar").count();
  report.labels = await page.locator("#emotion-bars .emotion-bar").evaluateAll((bars) => bars.map((b) => b.dataset.label));
  report.transcript = await page.locator("#asr-transcript textarea").inputValue();
  report.latency = await page.locator("#latency textarea").inputValue();
  await page.screenshot({ path: screenshot, fullPage: true });

  await page.locator("#model-input textarea").fill("/no/such/model");
  await page.locator("#analyse").click();
  await page.locator("#status", { hasText: "Problem" }).waitFor({ timeout: 60000 });
  report.problem = await page.locator("#status").innerText();
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
