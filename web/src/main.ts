document.getElementById("app")!.textContent = "Vigil";
